#include <stdio.h>

#include "version.h"

int main(void) {
    printf("hello from %s %s, built with cmake\n", HELLO_NAME, HELLO_VERSION);
    return 0;
}
