#include "greet.h"

void greet(FILE *out, const char *message) { fprintf(out, "%s (libgreet %s)\n", message, GREET_VERSION); }
