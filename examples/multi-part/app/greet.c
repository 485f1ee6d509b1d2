#include <stdio.h>
#include <string.h>

#include <greet.h>

/* Greets with the first line of the greeting part's file. */
int main(void) {
    char line[256] = "hello";
    FILE *f = fopen("/etc/greet/greeting.txt", "r");
    if (f) {
        if (fgets(line, sizeof line, f)) {
            line[strcspn(line, "\n")] = '\0';
        }
        fclose(f);
    }
    greet(stdout, line);
    return 0;
}
