/*
 * driver.c - a standalone, deterministic replay driver for the libFuzzer
 * targets in tests/fuzz/ (used when the compiler has no libFuzzer, i.e.
 * always under gcc, and by ctest).
 *
 *   fuzz_<target> [-m mutations] [-s seed] [-v] PATH...
 *
 * Every PATH is a file or a directory (a seed corpus, one input per file;
 * files are replayed in name order). Each input is run once as is, then
 * `mutations` times (default 2000, or $PARLEY_FUZZ_MUTATIONS) mutated with
 * a xorshift PRNG seeded from `seed` (default 1) and the input's position:
 * the same corpus, count and seed always run exactly the same inputs.
 * A target reports a bug by crashing (abort, sanitizer); the driver exits
 * 0 when every input ran, 2 on usage / I/O errors.
 *
 * On a crash (signal, or a sanitizer report) the input being run is written
 * to $PARLEY_FUZZ_CRASH_FILE (default ./fuzz-crash-<target>.bin) and named on
 * stderr, so it can be replayed with `fuzz_<target> -m 0 that-file` or with
 * the libFuzzer binary.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
/* Present when linked with a sanitizer runtime: called before it exits on an error. */
void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

#define DRIVER_MAX_INPUT (64 * 1024)   /* mutated inputs never grow past this */
#define DRIVER_MAX_FILES 4096

typedef struct {
    uint8_t *data;
    size_t len;
    char *name;
} seed_file;

static seed_file seeds[DRIVER_MAX_FILES];
static size_t n_seeds;
static const char *crash_file;

/* ---- PRNG (xorshift64*) --------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    uint64_t x = rng_state;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static size_t rng_below(size_t n)
{
    return n ? (size_t)(rng_next() % n) : 0;
}

static void rng_seed(uint64_t seed, uint64_t stream)
{
    /* splitmix64 of (seed, stream): never zero. */
    uint64_t z = seed * 0x9E3779B97F4A7C15ULL + stream + 0x632BE59BD9B4E019ULL;

    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z ^= z >> 31;
    rng_state = z ? z : 1;
}

/* ---- corpus loading ------------------------------------------------------- */

static int load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long len;

    if (!f) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        len > DRIVER_MAX_INPUT || n_seeds == DRIVER_MAX_FILES) {
        fprintf(stderr, "driver: %s: unreadable, too large, or too many files\n", path);
        fclose(f);
        return -1;
    }
    buf = malloc((size_t)len + 1);
    if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
        fprintf(stderr, "driver: %s: read error\n", path);
        free(buf);
        fclose(f);
        return -1;
    }
    fclose(f);
    seeds[n_seeds].data = buf;
    seeds[n_seeds].len = (size_t)len;
    seeds[n_seeds].name = strdup(path);
    n_seeds++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_path(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (stat(path, &st) != 0) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    if (!S_ISDIR(st.st_mode))
        return load_file(path);
    if (!(d = opendir(path))) {
        fprintf(stderr, "driver: %s: %s\n", path, strerror(errno));
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        if (n == cap) {
            char **nn = realloc(names, (cap = cap ? 2 * cap : 64) * sizeof(*names));
            if (!nn) {
                rc = -1;
                break;
            }
            names = nn;
        }
        size_t len = strlen(path) + 1 + strlen(e->d_name) + 1;
        if (!(names[n] = malloc(len))) {
            rc = -1;
            break;
        }
        snprintf(names[n++], len, "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(*names), cmp_names);   /* readdir order is not stable */
    for (i = 0; i < n; i++) {
        if (rc == 0 && load_file(names[i]) != 0)
            rc = -1;
        free(names[i]);
    }
    free(names);
    return rc;
}

/* ---- mutation ------------------------------------------------------------- */

static const uint8_t interesting[] = {0x00, 0x01, 0x02, 0x7f, 0x80, 0x81, 0xfe, 0xff,
                                      0x08, 0x0a, 0x10, 0x12, 0x1a, 0x20, 0x22, 0x2e};

/* Apply 1..4 random edits to buf[0..*len) (capacity cap). */
static void mutate(uint8_t *buf, size_t *len, size_t cap)
{
    int edits = 1 + (int)rng_below(4);

    for (int k = 0; k < edits; k++) {
        size_t n = *len, pos = rng_below(n + 1), m;
        const seed_file *other;

        switch (rng_below(10)) {
        case 0: /* flip a bit */
            if (n)
                buf[rng_below(n)] ^= (uint8_t)(1u << rng_below(8));
            break;
        case 1: /* random byte */
            if (n)
                buf[rng_below(n)] = (uint8_t)rng_next();
            break;
        case 2: /* interesting byte (protobuf tags, varint edges, separators) */
            if (n)
                buf[rng_below(n)] = interesting[rng_below(sizeof interesting)];
            break;
        case 3: /* insert random bytes */
            m = 1 + rng_below(8);
            if (n + m <= cap) {
                memmove(buf + pos + m, buf + pos, n - pos);
                for (size_t i = 0; i < m; i++)
                    buf[pos + i] = (uint8_t)rng_next();
                *len = n + m;
            }
            break;
        case 4: /* delete a range */
            if (pos < n) {
                m = 1 + rng_below(n - pos < 16 ? n - pos : 16);
                memmove(buf + pos, buf + pos + m, n - pos - m);
                *len = n - m;
            }
            break;
        case 5: /* truncate */ *len = rng_below(n + 1); break;
        case 6: /* duplicate a chunk */
            if (n) {
                size_t from = rng_below(n);
                m = 1 + rng_below(n - from < 32 ? n - from : 32);
                if (n + m <= cap) {
                    memmove(buf + pos + m, buf + pos, n - pos);
                    memmove(buf + pos, buf + (from >= pos ? from + m : from), m);
                    *len = n + m;
                }
            }
            break;
        case 7: /* overwrite with a chunk of another seed */
            other = &seeds[rng_below(n_seeds)];
            if (other->len && n) {
                size_t from = rng_below(other->len);
                m = 1 + rng_below(other->len - from);
                if (pos + m > cap)
                    m = cap - pos;
                memcpy(buf + pos, other->data + from, m);
                if (pos + m > n)
                    *len = pos + m;
            }
            break;
        case 8: /* add to a byte (varint lengths, counters) */
            if (n)
                buf[rng_below(n)] += (uint8_t)(rng_below(33) - 16);
            break;
        default: /* swap two bytes */
            if (n > 1) {
                size_t a = rng_below(n), b = rng_below(n);
                uint8_t t = buf[a];
                buf[a] = buf[b];
                buf[b] = t;
            }
            break;
        }
    }
}

/* ---- running -------------------------------------------------------------- */

/* The input being run, for the crash handler. */
static const uint8_t *cur_data;
static size_t cur_len;
static size_t cur_seed;
static unsigned long cur_mutation;   /* 0 = the seed itself, k = k-th mutation */

static void put_str(const char *s)
{
    ssize_t r = write(2, s, strlen(s));
    (void)r;
}

static void put_num(unsigned long v)
{
    char b[24], *p = b + sizeof b;

    *--p = '\0';
    do
        *--p = (char)('0' + v % 10);
    while ((v /= 10) && p > b);
    put_str(p);
}

/* Async-signal-safe: write the crashing input to crash_file and say which it was. */
static void crash_dump(void)
{
    static volatile sig_atomic_t done;
    int fd;

    if (done || !cur_data)
        return;
    done = 1;
    fd = open(crash_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        ssize_t r = write(fd, cur_data, cur_len);
        (void)r;
        close(fd);
    }
    put_str("driver: crashed on ");
    put_str(seeds[cur_seed].name);
    put_str(" mutation ");
    put_num(cur_mutation);
    put_str(" (");
    put_num(cur_len);
    put_str(" bytes) -> ");
    put_str(crash_file);
    put_str("\n");
}

static void crash_signal(int sig)
{
    crash_dump();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void run_one(const uint8_t *data, size_t len)
{
    /* A private heap copy, exactly len bytes: sanitizers catch overreads. */
    uint8_t *copy = malloc(len ? len : 1);

    if (!copy)
        abort();
    if (len)
        memcpy(copy, data, len);
    cur_data = copy;
    cur_len = len;
    LLVMFuzzerTestOneInput(copy, len);
    cur_data = NULL;
    free(copy);
}

static void usage(const char *argv0)
{
    fprintf(stderr, "usage: %s [-m mutations] [-s seed] [-v] FILE|DIR...\n", argv0);
}

int main(int argc, char **argv)
{
    unsigned long mutations = 2000, seed = 1;
    int verbose = 0, i;
    const char *env = getenv("PARLEY_FUZZ_MUTATIONS");
    char default_crash[256];
    const char *base = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
    uint8_t *buf;
    size_t total = 0;
    clock_t t0 = clock();

    if (env && *env)
        mutations = strtoul(env, NULL, 10);
    for (i = 1; i < argc && argv[i][0] == '-'; i++) {
        if (!strcmp(argv[i], "-m") && i + 1 < argc) {
            mutations = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-s") && i + 1 < argc) {
            seed = strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(argv[i], "-v")) {
            verbose = 1;
        } else {
            usage(argv[0]);
            return 2;
        }
    }
    if (i == argc) {
        usage(argv[0]);
        return 2;
    }
    snprintf(default_crash, sizeof default_crash, "fuzz-crash-%s.bin", base);
    crash_file = getenv("PARLEY_FUZZ_CRASH_FILE");
    if (!crash_file || !*crash_file)
        crash_file = default_crash;
    signal(SIGABRT, crash_signal);
    signal(SIGSEGV, crash_signal);
    signal(SIGBUS, crash_signal);
    signal(SIGFPE, crash_signal);
    signal(SIGILL, crash_signal);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(crash_dump);
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    for (; i < argc; i++)
        if (load_path(argv[i]) != 0)
            return 2;
    if (n_seeds == 0) {
        fprintf(stderr, "driver: no inputs\n");
        return 2;
    }
    if (!(buf = malloc(DRIVER_MAX_INPUT)))
        return 2;
    for (size_t s = 0; s < n_seeds; s++) {
        if (verbose)
            fprintf(stderr, "driver: %s (%zu bytes)\n", seeds[s].name, seeds[s].len);
        cur_seed = s;
        cur_mutation = 0;
        run_one(seeds[s].data, seeds[s].len);
        total++;
        rng_seed(seed, s);
        for (unsigned long k = 0; k < mutations; k++) {
            size_t len = seeds[s].len;
            /* Grow at most to twice the seed plus a little: keeps runs short. */
            size_t cap = 2 * len + 64 < DRIVER_MAX_INPUT ? 2 * len + 64 : DRIVER_MAX_INPUT;
            memcpy(buf, seeds[s].data, len);
            mutate(buf, &len, cap);
            cur_mutation = k + 1;
            run_one(buf, len);
            total++;
        }
    }
    printf("%s: %zu seeds, %zu inputs, mutations/seed %lu, prng seed %lu, %.2f s cpu: ok\n", base,
           n_seeds, total, mutations, seed, (double)(clock() - t0) / CLOCKS_PER_SEC);
    for (size_t s = 0; s < n_seeds; s++) {
        free(seeds[s].data);
        free(seeds[s].name);
    }
    free(buf);
    return 0;
}
