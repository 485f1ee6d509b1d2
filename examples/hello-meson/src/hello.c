#include <stdio.h>

int main(void) {
    printf("hello from hello-meson %s, built with meson\n", HELLO_VERSION);
    return 0;
}
