#pragma once
// One virtio device as xenstore describes it: libxl's keys and the status
// keys xenvhostd publishes beside them, raw (an absent key is empty).

#include <string>

namespace xenvhost::status {

struct DeviceRow {
    std::string guest;  // /local/domain/DOMID/name
    unsigned domid = 0;
    unsigned backend = 0;
    std::string kind;  // virtio_disk or virtio
    std::string devid;
    std::string dev;
    std::string params;
    std::string state;
    std::string online;
    std::string socket;
    std::string worker_pid;
    std::string connected;
    std::string mapping;
    std::string transport;
    std::string external_backend;  // xenvhost-backend: "external SOCKET"
    std::string restarts;
    std::string counters;  // xenvhost-counters: "requests=N map-calls=N ..."
    std::string error;
};

}  // namespace xenvhost::status
