// Exits with the code given as argv[1] (default 3), after saying so on stderr.
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
  int code = argc > 1 ? atoi(argv[1]) : 3;
  fprintf(stderr, "exiting with %d\n", code);
  exit(code);
}
