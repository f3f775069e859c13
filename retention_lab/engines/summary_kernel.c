/* The one-pass BTYD summary kernel of retention_lab/engines/kernels.py (_accumulate_py) in C.
 *
 * The same arithmetic as the numba kernel: rows are moved into buckets of 2**shift consecutive
 * customer slots by a stable counting sort (each customer's rows stay in their order, so every
 * sum adds the same doubles in the same order: the output is bit-identical), then counted
 * bucket by bucket into
 *   state[k] = (first period, last period, number of distinct periods)   int32 x 3
 *   money[k] = (total spend, spend in the first period)                  double x 2
 *   bits      a (customer, period) bitmap, rows of `width` bits (whole 64-bit words).
 * Only slots in [slot_from, slot_to) are touched, so two threads with disjoint slot ranges can
 * share the arrays. Rows with ts >= limit, or an id outside the range, are skipped.
 *
 * Two differences of form from the numba kernel, none in the numbers: the rows come as a list
 * of chunks, read in order (DuckDB's Arrow chunks need no concatenation), and the bucketed rows
 * go to a caller's scratch buffer of `capacity` >= rows records, reused from call to call
 * (fresh pages cost the kernel a page fault and a zeroing each).
 *
 * Built by retention_lab/engines/native.py (`make setup`: cc -O2 -shared -fPIC
 * -ffp-contract=off), loaded with ctypes, which releases the GIL during the call.
 * No undefined behaviour on any input: id offsets are computed in unsigned arithmetic, the day
 * index and the period of every counted row are range-checked (an error code, not a read out
 * of bounds), sizes are checked and so is the allocation.
 */
#include <stdint.h>
#include <stdlib.h>

#ifndef RL_SOURCE_HASH
#define RL_SOURCE_HASH 0ULL
#endif

enum { RL_OK = 0, RL_BAD_ARGS = 1, RL_DAY_OUT_OF_RANGE = 2, RL_NO_MEMORY = 3 };

/* The hash of this source and the build flags, set by the builder (-DRL_SOURCE_HASH=...):
 * the loader refuses a library built from another version of this file. It reads the tag from
 * the file's bytes before loading it (a process cannot load two libraries of one path: it
 * would get the stale one back after a rebuild), then asks the function. */
#define RL_STR_(x) #x
#define RL_STR(x) RL_STR_(x)
const char rl_source_tag[] = "rl-source-hash:" RL_STR(RL_SOURCE_HASH);
uint64_t rl_source_hash(void) { return (uint64_t)RL_SOURCE_HASH; }

/* Python's floor division a // b for b > 0 (C's `/` truncates toward zero). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

/* A bucketed row: its slot's offset from slot_from, its period, its spend (16 bytes). */
struct rl_row {
    uint32_t slot;
    int32_t period;
    double spend;
};

int rl_accumulate(int64_t n_chunks, const int64_t *const *ids, const int64_t *const *ts,
                  const double *const *amount, const int64_t *lens,
                  int64_t lo, int64_t unit_per_day, int64_t limit, int64_t day0,
                  int64_t n_days, const int32_t *periods, int64_t width,
                  int32_t *state, double *money, uint64_t *bits,
                  int64_t slot_from, int64_t slot_to, int shift,
                  struct rl_row *scratch, int64_t capacity)
{
    int64_t n = 0;
    for (int64_t c = 0; c < n_chunks; c++) {
        if (lens[c] < 0 || lens[c] > INT64_MAX - n)
            return RL_BAD_ARGS;
        n += lens[c];
    }
    if (n_chunks < 0 || unit_per_day <= 0 || width <= 0 || width % 64 != 0 || n_days < 0
        || slot_from < 0 || shift < 0 || shift > 62 || capacity < n
        || (slot_to > slot_from && (uint64_t)(slot_to - slot_from) > UINT32_MAX))
        return RL_BAD_ARGS;
    if (slot_to <= slot_from || n == 0)
        return RL_OK;
    /* slot k = id - lo, computed modulo 2**64: ids below lo wrap to huge values and fail the
     * range test, as the numba kernel's negative k does */
    const uint64_t from = (uint64_t)slot_from, to = (uint64_t)slot_to;
    const int64_t n_buckets = (int64_t)(((to - from - 1) >> shift) + 1);
    int64_t *start = calloc((size_t)n_buckets + 1, sizeof *start);
    if (start == NULL)
        return RL_NO_MEMORY;
    for (int64_t c = 0; c < n_chunks; c++) {
        const int64_t *id = ids[c], *t = ts[c];
        for (int64_t i = 0; i < lens[c]; i++) {
            const uint64_t k = (uint64_t)id[i] - (uint64_t)lo;
            if (t[i] < limit && k >= from && k < to)
                start[((k - from) >> shift) + 1] += 1;
        }
    }
    for (int64_t b = 0; b < n_buckets; b++)  /* start[b + 1]: where bucket b + 1 begins */
        start[b + 1] += start[b];
    const int64_t m = start[n_buckets];
    int status = RL_OK;
    for (int64_t c = 0; c < n_chunks; c++) {  /* start[b]: the next free record of bucket b */
        const int64_t *id = ids[c], *t = ts[c];
        const double *x = amount[c];
        for (int64_t i = 0; i < lens[c]; i++) {
            const uint64_t k = (uint64_t)id[i] - (uint64_t)lo;
            if (t[i] < limit && k >= from && k < to) {
                const int64_t day = floor_div(t[i], unit_per_day);
                /* day - day0 cannot overflow: day0 is a day of an int64 timestamp too */
                if (day < day0 || day - day0 >= n_days) {
                    status = RL_DAY_OUT_OF_RANGE;
                    goto done;
                }
                const int32_t d = periods[day - day0];
                if (d < 0 || d >= width) {
                    status = RL_DAY_OUT_OF_RANGE;
                    goto done;
                }
                struct rl_row *r = scratch + start[(k - from) >> shift]++;
                r->slot = (uint32_t)(k - from);
                r->period = d;
                r->spend = x[i];
            }
        }
    }
    for (int64_t j = 0; j < m; j++) {
        const uint64_t k = from + scratch[j].slot;
        const int32_t d = scratch[j].period;
        const double x = scratch[j].spend;
        int32_t *s = state + 3 * k;
        double *mo = money + 2 * k;
        mo[0] += x;
        if (d < s[0]) {
            s[0] = d;
            mo[1] = x;
        } else if (d == s[0]) {
            mo[1] += x;
        }
        if (d > s[1])
            s[1] = d;
        const uint64_t bit = k * (uint64_t)width + (uint64_t)d;
        const uint64_t mask = (uint64_t)1 << (bit & 63);
        if ((bits[bit >> 6] & mask) == 0) {
            bits[bit >> 6] |= mask;
            s[2] += 1;
        }
    }
done:
    free(start);
    return status;
}
