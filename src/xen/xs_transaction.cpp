#include "xen/xs_transaction.hpp"

#include <cerrno>
#include <utility>

namespace xenvhost::xen {

Result<XsTransaction> XsTransaction::start(const Xenstore& xs) {
    xs_transaction_t t = xs_transaction_start(xs.raw());
    if (t == XBT_NULL) return fail_errno("xenstore transaction start");
    return XsTransaction(xs, t);
}

XsTransaction::XsTransaction(XsTransaction&& o) noexcept : xs_(o.xs_), id_(std::exchange(o.id_, XBT_NULL)) {}

XsTransaction::~XsTransaction() {
    if (id_ != XBT_NULL) xs_transaction_end(xs_->raw(), id_, true);
}

Result<bool> XsTransaction::commit() {
    xs_transaction_t t = std::exchange(id_, XBT_NULL);
    if (xs_transaction_end(xs_->raw(), t, false)) return true;
    if (errno == EAGAIN) return false;
    return fail_errno("xenstore transaction commit");
}

}  // namespace xenvhost::xen
