"""The ground floor: data types shared by every layer (no asyncrl imports)."""
