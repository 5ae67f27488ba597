// A small key-value store that keeps its data in a file (KV_FILE, default /data/kv.db; lines
// of "key<TAB>value"). Commands on stdin, one per line: set K V, get K, del K, list, count.
// Every change rewrites the file through a temporary file and a rename, as real stores do.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ENTRIES 1024
#define MAX_TEXT 256

static char keys[MAX_ENTRIES][MAX_TEXT], values[MAX_ENTRIES][MAX_TEXT];
static int count;
static const char *db_path;

static int find(const char *key) {
  for (int i = 0; i < count; i++) if (strcmp(keys[i], key) == 0) return i;
  return -1;
}

static void load(void) {
  FILE *f = fopen(db_path, "r");
  if (!f) return;
  char line[2 * MAX_TEXT + 2];
  while (count < MAX_ENTRIES && fgets(line, sizeof line, f)) {
    char *tab = strchr(line, '\t');
    if (!tab) continue;
    *tab = 0;
    line[strcspn(tab + 1, "\n") + (tab + 1 - line)] = 0;
    snprintf(keys[count], MAX_TEXT, "%s", line);
    snprintf(values[count], MAX_TEXT, "%s", tab + 1);
    count++;
  }
  fclose(f);
}

static void save(void) {
  char tmp[512];
  snprintf(tmp, sizeof tmp, "%s.tmp", db_path);
  FILE *f = fopen(tmp, "w");
  if (!f) { perror(tmp); exit(1); }
  for (int i = 0; i < count; i++) fprintf(f, "%s\t%s\n", keys[i], values[i]);
  fclose(f);
  if (rename(tmp, db_path) != 0) { perror("rename"); exit(1); }
}

static int by_key(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

int main(void) {
  db_path = getenv("KV_FILE") ? getenv("KV_FILE") : "/data/kv.db";
  load();
  char line[1024], cmd[16], key[MAX_TEXT], value[MAX_TEXT];
  while (fgets(line, sizeof line, stdin)) {
    int fields = sscanf(line, "%15s %255s %255[^\n]", cmd, key, value);
    if (fields < 1) continue;
    if (strcmp(cmd, "set") == 0 && fields == 3) {
      int i = find(key);
      if (i < 0) {
        if (count == MAX_ENTRIES) { puts("error: full"); continue; }
        i = count++;
        snprintf(keys[i], MAX_TEXT, "%s", key);
      }
      snprintf(values[i], MAX_TEXT, "%s", value);
      save();
      puts("ok");
    } else if (strcmp(cmd, "get") == 0 && fields >= 2) {
      int i = find(key);
      puts(i < 0 ? "(nil)" : values[i]);
    } else if (strcmp(cmd, "del") == 0 && fields >= 2) {
      int i = find(key);
      if (i >= 0) {
        count--;
        memcpy(keys[i], keys[count], MAX_TEXT);
        memcpy(values[i], values[count], MAX_TEXT);
        save();
      }
      puts(i < 0 ? "0" : "1");
    } else if (strcmp(cmd, "list") == 0) {
      const char *sorted[MAX_ENTRIES];
      for (int i = 0; i < count; i++) sorted[i] = keys[i];
      qsort(sorted, (size_t)count, sizeof *sorted, by_key);
      for (int i = 0; i < count; i++) printf("%s=%s\n", sorted[i], values[find(sorted[i])]);
    } else if (strcmp(cmd, "count") == 0) {
      printf("%d\n", count);
    } else {
      printf("error: unknown command %s\n", cmd);
    }
  }
  return 0;
}
