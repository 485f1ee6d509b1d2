/* libhello: one function that greets. */
#ifndef HELLO_H
#define HELLO_H

#define HELLO_VERSION "1.0.0"

/* Prints "hello from FROM, built with libhello VERSION (VARIANT)". */
int hello_greet(const char *from);

#endif
