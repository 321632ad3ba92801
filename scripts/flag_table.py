"""Print the docs' tables of ``asyncrl train`` flags, one per section, generated from the config tree
(``asyncrl.config.flag_table``).

python scripts/flag_table.py     # paste between <!-- flags:begin --> and <!-- flags:end --> in docs/configuration.md
"""

from asyncrl.config import flag_table

if __name__ == "__main__":
    print(flag_table(), end="")
