// bench_main.cc - registers the C cases of ud_bench_cases.c with Google Benchmark.
//
// The only C++ in the tree. Each case times `iterations` operations inside one C call, driven by
// KeepRunningBatch(max_iterations), so the per-iteration cost of Google Benchmark's loop (and of
// the C++/C boundary) is not part of any figure. A failed call stops the case with
// SkipWithError and makes the program exit non-zero.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "ud_bench_cases.h"

namespace {

bool g_failed = false;

void skip(benchmark::State &state, const udb_state &s) {
    state.SkipWithError(s.error[0] ? s.error : "failed without a message");
    g_failed = true;
}

void run_case(benchmark::State &state, const udb_case *c) {
    udb_state s{};
    if (c->setup(&s, c->arg) != 0) {
        skip(state, s);
        c->teardown(&s);
        return;
    }
    while (state.KeepRunningBatch(state.max_iterations)) {
        if (c->run(&s, static_cast<uint64_t>(state.max_iterations)) != 0) {
            skip(state, s);
            c->teardown(&s);
            return;
        }
    }
    const auto iterations = static_cast<uint64_t>(state.iterations());
    if (c->finish && c->finish(&s, iterations) != 0) {
        skip(state, s);
        c->teardown(&s);
        return;
    }
    state.SetItemsProcessed(static_cast<int64_t>(iterations));
    if (s.bytes_per_iteration)
        state.SetBytesProcessed(static_cast<int64_t>(iterations * s.bytes_per_iteration));
    for (size_t i = 0; i < s.ncounters; i++)
        state.counters[s.counters[i].name] = benchmark::Counter(s.counters[i].value);
    c->teardown(&s);
}

benchmark::TimeUnit time_unit(int unit) {
    switch (unit) {
    case UDB_US:
        return benchmark::kMicrosecond;
    case UDB_MS:
        return benchmark::kMillisecond;
    default:
        return benchmark::kNanosecond;
    }
}

} // namespace

int main(int argc, char **argv) {
    for (size_t i = 0; i < udb_ncases; i++) {
        const udb_case *c = &udb_cases[i];
        benchmark::RegisterBenchmark(c->name, run_case, c)->Unit(time_unit(c->unit));
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv))
        return 2;
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    udb_cleanup();
    return g_failed ? 1 : 0;
}
