#pragma once
// Work a thread does while a translation of its waits on the front-end (an
// IOTLB MISS answer): a queue thread submits and reaps its other requests
// meanwhile, so that the leases they hold end and an invalidation waiting
// for them can be answered — which is what the front-end waits for before it
// answers the MISS.

#include <functional>

namespace xenvhost::memory {

class WaitWork {
public:
    // Installs `work` for the calling thread for this object's lifetime.
    explicit WaitWork(std::function<void()> work);
    ~WaitWork();
    WaitWork(const WaitWork&) = delete;
    WaitWork& operator=(const WaitWork&) = delete;

    // The calling thread's work, or null.
    static const std::function<void()>* current();

private:
    std::function<void()> work_;
    const std::function<void()>* previous_;
};

}  // namespace xenvhost::memory
