#include "memory/wait_work.hpp"

namespace xenvhost::memory {

namespace {
thread_local const std::function<void()>* t_work = nullptr;
}  // namespace

WaitWork::WaitWork(std::function<void()> work) : work_(std::move(work)), previous_(t_work) { t_work = &work_; }

WaitWork::~WaitWork() { t_work = previous_; }

const std::function<void()>* WaitWork::current() { return t_work; }

}  // namespace xenvhost::memory
