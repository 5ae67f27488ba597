// The smallest guest: one line on stdout.
#include <stdio.h>

int main(void) {
  puts("Hello from RepliCode!");
  return 0;
}
