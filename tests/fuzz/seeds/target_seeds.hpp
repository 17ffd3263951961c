#pragma once
// One function per fuzz target, each writing that target's corpus
// (tests/fuzz/corpus/<target>/); make_seeds.cpp calls them all.

namespace xenvhost::fuzz::seeds {

void session_seeds();        // fuzz_session
void session_reproducers();  // fuzz_session crash-*.bin
void chain_seeds();          // fuzz_chain
void engine_seeds();         // fuzz_queue_engine
void blk_seeds();            // fuzz_blk_request
void xen_seeds();            // fuzz_xen_regions
void entry_seeds();          // fuzz_xenstore_entry
void transport_seeds();      // fuzz_transport

}  // namespace xenvhost::fuzz::seeds
