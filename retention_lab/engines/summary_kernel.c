/* The one-pass BTYD summary kernel of retention_lab/engines/kernels.py (_accumulate_py) in C.
 *
 * The same arithmetic, statement for statement, as the numba kernel: rows are moved into
 * buckets of 2**shift consecutive customer slots by a stable counting sort (each customer's
 * rows stay in their order, so every sum adds the same doubles in the same order: the output
 * is bit-identical), then counted bucket by bucket into
 *   state[k] = (first period, last period, number of distinct periods)   int32 x 3
 *   money[k] = (total spend, spend in the first period)                  double x 2
 *   bits      a (customer, period) bitmap, rows of `width` bits (whole 64-bit words).
 * Only slots in [slot_from, slot_to) are touched, so two threads with disjoint slot ranges can
 * share the arrays. Rows with ts >= limit, or an id outside the range, are skipped.
 *
 * Built by retention_lab/engines/native.py (`make setup`: cc -O2 -shared -fPIC
 * -ffp-contract=off), loaded with ctypes, which releases the GIL during the call.
 * No undefined behaviour on any input: id offsets are computed in unsigned arithmetic, the day
 * index and the period of every counted row are range-checked (an error code, not a read out
 * of bounds), and scratch allocations are checked.
 */
#include <stdint.h>
#include <stdlib.h>

#ifndef RL_SOURCE_HASH
#define RL_SOURCE_HASH 0ULL
#endif

enum { RL_OK = 0, RL_BAD_ARGS = 1, RL_DAY_OUT_OF_RANGE = 2, RL_NO_MEMORY = 3 };

/* The hash of this source and the build flags, set by the builder (-DRL_SOURCE_HASH=...):
 * the loader refuses a library built from another version of this file. */
uint64_t rl_source_hash(void) { return (uint64_t)RL_SOURCE_HASH; }

/* Python's floor division a // b for b > 0 (C's `/` truncates toward zero). */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && a < 0) ? q - 1 : q;
}

int rl_accumulate(int64_t n, const int64_t *ids, const int64_t *ts, const double *amount,
                  int64_t lo, int64_t unit_per_day, int64_t limit, int64_t day0,
                  int64_t n_days, const int32_t *periods, int64_t width,
                  int32_t *state, double *money, uint64_t *bits,
                  int64_t slot_from, int64_t slot_to, int shift)
{
    if (n < 0 || unit_per_day <= 0 || width <= 0 || width % 64 != 0 || n_days < 0
        || slot_from < 0 || shift < 0 || shift > 62)
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
    for (int64_t i = 0; i < n; i++) {
        const uint64_t k = (uint64_t)ids[i] - (uint64_t)lo;
        if (ts[i] < limit && k >= from && k < to)
            start[((k - from) >> shift) + 1] += 1;
    }
    for (int64_t b = 0; b < n_buckets; b++)
        start[b + 1] += start[b];
    const int64_t m = start[n_buckets];
    int status = RL_OK;
    /* +1: never malloc(0) */
    int64_t *pos = malloc(((size_t)n_buckets + 1) * sizeof *pos);
    uint64_t *slots = malloc(((size_t)m + 1) * sizeof *slots);
    int32_t *period = malloc(((size_t)m + 1) * sizeof *period);
    double *spend = malloc(((size_t)m + 1) * sizeof *spend);
    if (pos == NULL || slots == NULL || period == NULL || spend == NULL) {
        status = RL_NO_MEMORY;
        goto done;
    }
    for (int64_t b = 0; b < n_buckets; b++)
        pos[b] = start[b];
    for (int64_t i = 0; i < n; i++) {
        const int64_t t = ts[i];
        const uint64_t k = (uint64_t)ids[i] - (uint64_t)lo;
        if (t < limit && k >= from && k < to) {
            const int64_t day = floor_div(t, unit_per_day);
            /* day - day0 without overflow: both are whole days of an int64 timestamp */
            if (day < day0 || day - day0 >= n_days) {
                status = RL_DAY_OUT_OF_RANGE;
                goto done;
            }
            const int32_t d = periods[day - day0];
            if (d < 0 || d >= width) {
                status = RL_DAY_OUT_OF_RANGE;
                goto done;
            }
            const int64_t b = (int64_t)((k - from) >> shift);
            const int64_t j = pos[b]++;
            slots[j] = k;
            period[j] = d;
            spend[j] = amount[i];
        }
    }
    for (int64_t j = 0; j < m; j++) {
        const uint64_t k = slots[j];
        const int32_t d = period[j];
        const double x = spend[j];
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
    free(pos);
    free(slots);
    free(period);
    free(spend);
    return status;
}
