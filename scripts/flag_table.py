"""Print README's table of ``asyncrl train`` flags, generated from the config tree (``asyncrl.config.flag_table``).

python scripts/flag_table.py     # paste between README's <!-- flags:begin --> and <!-- flags:end -->
"""

from asyncrl.config import flag_table

if __name__ == "__main__":
    print(flag_table(), end="")
