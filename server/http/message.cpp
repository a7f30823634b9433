#include "server/http/message.hpp"

#include <strings.h>

namespace stepd::server {

const std::string* HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (h.name.size() == name.size() &&
        strncasecmp(h.name.data(), name.data(), name.size()) == 0) {
      return &h.value;
    }
  }
  return nullptr;
}

RequestContext::~RequestContext() {
  // Nobody else holds the context any more: no lock needed, and nothing will settle it now.
  if (settled_) return;
  settled_ = true;
  for (auto& fn : written_fns_) fn(false);
}

void RequestContext::on_cancel(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    cancellable_ = true;
    if (settled_) return;  // the answer was written or dropped: nothing to cancel
    if (!gone_) {
      cancel_.push_back(std::move(fn));
      return;
    }
  }
  fn();
}

void RequestContext::on_written(std::function<void(bool written)> fn) {
  bool written = false;
  {
    std::lock_guard lock(mu_);
    if (!settled_) {
      written_fns_.push_back(std::move(fn));
      return;
    }
    written = written_;
  }
  fn(written);
}

bool RequestContext::cancelled() const {
  std::lock_guard lock(mu_);
  return gone_;
}

void RequestContext::client_gone() {
  std::vector<std::function<void()>> run;
  {
    std::lock_guard lock(mu_);
    if (gone_ || settled_) return;
    gone_ = true;
    run.swap(cancel_);
  }
  for (auto& fn : run) fn();
}

bool RequestContext::abandoned() const {
  std::lock_guard lock(mu_);
  return gone_ && cancellable_;
}

void RequestContext::settle(bool written) {
  std::vector<std::function<void(bool)>> run;
  std::vector<std::function<void()>> never;  // destroyed after the lock is released
  {
    std::lock_guard lock(mu_);
    if (settled_) return;
    settled_ = true;
    written_ = written;
    run.swap(written_fns_);
    never.swap(cancel_);
  }
  for (auto& fn : run) fn(written);
}

std::string_view to_string(Role role) {
  switch (role) {
    case Role::Admin: return "admin";
    case Role::ReadOnly: return "read-only";
    case Role::Worker: return "worker";
  }
  return "admin";
}

}  // namespace stepd::server
