#include <hello.h>

int main(void) {
    return hello_greet("spk-hello 1.0.0") < 0;
}
