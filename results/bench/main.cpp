// results_bench's main: its benchmarks, with the machine's floors beside them.
#include "floors.h"

int main(int argc, char** argv) { return flakelab::bench::run_with_floors(argc, argv, {}); }
