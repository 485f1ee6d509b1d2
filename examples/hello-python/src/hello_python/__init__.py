"""hello-python: a greeting that needs a package from PyPI."""

import roman


def main() -> None:
    print(f"hello from hello-python, built with the python plugin in {roman.toRoman(2025)}")
