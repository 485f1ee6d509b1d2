"""`python3 -m hello_python` says the same as the console script."""

from hello_python import main

main()
