// xenvhost-worker: serves a guest's virtio-blk devices over vhost-user.

#include "worker/run.hpp"

int main(int argc, char** argv) { return xenvhost::worker::run(argc, argv, {}); }
