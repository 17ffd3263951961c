// xenvhost-dm: the device model of one Xen guest. Emulates the virtio
// transport its drivers use and drives each device's vhost-user back-end.

#include "device_model/run.hpp"

int main(int argc, char** argv) { return xenvhost::device_model::run(argc, argv, {}); }
