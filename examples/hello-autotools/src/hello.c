#include <stdio.h>

#include "config.h"

int main(void) {
    printf("hello from %s, built with autotools\n", PACKAGE_STRING);
    return 0;
}
