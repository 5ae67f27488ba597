// Randomness: under RepliCode it comes from the seeded PRNG, so --seed decides every byte.
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void) {
  unsigned char bytes[32];
  if (getentropy(bytes, sizeof bytes) != 0) {
    perror("getentropy");
    return 1;
  }
  printf("random: ");
  for (size_t i = 0; i < sizeof bytes; i++) printf("%02x", bytes[i]);
  printf("\ndice:");
  for (int i = 0; i < 5; i++) printf(" %u", arc4random_uniform(100));
  printf("\n");
  return 0;
}
