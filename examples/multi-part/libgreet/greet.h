#ifndef GREET_H
#define GREET_H

#include <stdio.h>

#define GREET_VERSION "1.0"

/* Writes `message` and the library's version to `out`. */
void greet(FILE *out, const char *message);

#endif
