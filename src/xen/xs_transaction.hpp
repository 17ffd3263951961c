#pragma once
// A xenstore transaction that aborts unless committed.

#include "base/error.hpp"
#include "xen/xenstore.hpp"

namespace xenvhost::xen {

class XsTransaction {
public:
    static Result<XsTransaction> start(const Xenstore& xs);
    XsTransaction(XsTransaction&& o) noexcept;
    XsTransaction& operator=(XsTransaction&&) = delete;
    XsTransaction(const XsTransaction&) = delete;
    ~XsTransaction();

    xs_transaction_t id() const { return id_; }
    // true: committed; false: conflict (EAGAIN), the caller reruns the whole transaction.
    Result<bool> commit();

private:
    XsTransaction(const Xenstore& xs, xs_transaction_t id) : xs_(&xs), id_(id) {}
    const Xenstore* xs_;
    xs_transaction_t id_;
};

}  // namespace xenvhost::xen
