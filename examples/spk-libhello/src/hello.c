#include <stdio.h>

#include "hello.h"

#ifdef HELLO_DEBUG
#define HELLO_VARIANT "debug"
#else
#define HELLO_VARIANT "optimised"
#endif

int hello_greet(const char *from) {
    return printf("hello from %s, built with libhello %s (%s)\n", from, HELLO_VERSION, HELLO_VARIANT);
}
