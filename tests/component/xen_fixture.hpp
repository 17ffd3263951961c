#pragma once
// What the Xen component tests share: a worker whose Xen mapping goes
// through the LD_PRELOAD double (tests/xendouble), stopped cleanly when the
// test ends, its log printed if the test failed.

#include "frontend/xen_worker.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <memory>

namespace xenvhost::component {

template <typename Base = ::testing::Test>
class XenWorkerFixture : public Base {
protected:
    void start_worker(frontend::XenWorkerOptions o = frontend::xen_worker_defaults(XENVHOST_BUILD_BIN)) {
        auto w = frontend::XenWorker::start(o);
        ASSERT_TRUE(w) << w.error().message;
        worker_ = std::move(*w);
    }
    void TearDown() override {
        if (!worker_) return;
        auto r = worker_->stop_clean();
        EXPECT_TRUE(r) << r.error().message;
        if (::testing::Test::HasFailure())
            std::cout << "---- worker log ----\n" << worker_->log_tail(6000) << "\n----\n";
    }

    std::unique_ptr<frontend::XenWorker> worker_;
};

}  // namespace xenvhost::component
