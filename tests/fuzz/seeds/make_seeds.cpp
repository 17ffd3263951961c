// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/seed-*.bin):
// realistic inputs in each target's layout (common/formats.hpp), so fuzzing
// starts from what real peers send. One file a target (*_seeds.cpp) says
// what its seeds hold; seed_writer.hpp writes the files.
//
//   make-seeds DIR      (DIR = tests/fuzz/corpus)

#include "seeds/seed_writer.hpp"
#include "seeds/target_seeds.hpp"

#include <cstdio>

int main(int argc, char** argv) {
    namespace seeds = xenvhost::fuzz::seeds;
    if (argc != 2) {
        std::fprintf(stderr, "usage: make-seeds CORPUS_DIR\n");
        return 2;
    }
    seeds::set_corpus_root(argv[1]);
    seeds::session_seeds();
    seeds::session_reproducers();
    seeds::chain_seeds();
    seeds::engine_seeds();
    seeds::blk_seeds();
    seeds::xen_seeds();
    seeds::entry_seeds();
    seeds::transport_seeds();
    std::printf("make-seeds: %d seeds written under %s\n", seeds::seeds_written(), argv[1]);
    return 0;
}
