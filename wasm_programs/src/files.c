// The filesystem calls a program makes: create, append, read, stat, rename, readdir, seek past
// the end, unlink, rmdir. Works under a preopened directory (argv[1], default /data) and prints
// one line per step, so the output pins down every result.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_buf[4][512];
static const char *at(int slot, const char *root, const char *rel) {
  snprintf(path_buf[slot], sizeof path_buf[slot], "%s/%s", root, rel);
  return path_buf[slot];
}

static void result(const char *step, int rc) {
  printf("%s: %s\n", step, rc == 0 ? "ok" : strerror(errno));
}

int main(int argc, char **argv) {
  const char *root = argc > 1 ? argv[1] : "/data";

  result("mkdir dir", mkdir(at(0, root, "dir"), 0755));
  result("mkdir dir again", mkdir(at(0, root, "dir"), 0755));

  FILE *f = fopen(at(0, root, "dir/a.txt"), "w");
  fputs("alpha\n", f);
  fclose(f);
  f = fopen(at(0, root, "dir/a.txt"), "a");
  fputs("beta\n", f);
  fclose(f);

  char text[128] = {0};
  f = fopen(at(0, root, "dir/a.txt"), "r");
  size_t n = fread(text, 1, sizeof text - 1, f);
  fclose(f);
  printf("read %zu bytes: %s", n, text);

  struct stat st;
  result("stat a.txt", stat(at(0, root, "dir/a.txt"), &st));
  printf("size=%lld regular=%s\n", (long long)st.st_size, S_ISREG(st.st_mode) ? "yes" : "no");

  result("rename a.txt b.txt", rename(at(0, root, "dir/a.txt"), at(1, root, "dir/b.txt")));
  printf("exists a.txt: %s\n", stat(at(0, root, "dir/a.txt"), &st) == 0 ? "yes" : errno == ENOENT ? "no" : "error");

  const char *more[] = {"dir/c.txt", "dir/0.txt"};
  for (int i = 0; i < 2; i++) {
    f = fopen(at(0, root, more[i]), "w");
    fputs(more[i], f);
    fclose(f);
  }

  DIR *d = opendir(at(0, root, "dir"));
  struct dirent *e;
  printf("readdir:");
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    printf(" %s", e->d_name);
  }
  printf("\n");
  closedir(d);

  int fd = open(at(0, root, "dir/b.txt"), O_WRONLY);
  off_t pos = lseek(fd, 100, SEEK_END);
  printf("lseek past end: %lld\n", (long long)pos);
  result("write after gap", write(fd, "!", 1) == 1 ? 0 : -1);
  close(fd);
  stat(at(0, root, "dir/b.txt"), &st);
  printf("size after gap=%lld\n", (long long)st.st_size);

  result("rmdir non-empty dir", rmdir(at(0, root, "dir")));
  result("unlink b.txt", unlink(at(0, root, "dir/b.txt")));
  result("unlink b.txt again", unlink(at(0, root, "dir/b.txt")));
  result("unlink c.txt", unlink(at(0, root, "dir/c.txt")));
  result("unlink 0.txt", unlink(at(0, root, "dir/0.txt")));
  result("rmdir dir", rmdir(at(0, root, "dir")));
  result("open outside the preopen", open(at(0, root, "../etc/passwd"), O_RDONLY) >= 0 ? 0 : -1);
  puts("done");
  return 0;
}
