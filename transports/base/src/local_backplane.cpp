#include <utility>

#include "tickcast/transport/backplane.h"

namespace tickcast {

void LocalBackplane::start(Deliver deliver) {
  std::lock_guard lock(mutex_);
  deliver_ = std::move(deliver);
}

void LocalBackplane::publish(std::string room, std::string body, Done done) {
  std::uint64_t seq = 0;
  {
    std::lock_guard lock(mutex_);
    if (!deliver_) {
      seq = 0;
    } else {
      seq = ++last_[room];
      deliver_(room, seq, std::move(body));
    }
  }
  if (seq == 0) {
    if (done) done(Failure{FailureCode::overloaded, "the backplane is not started"});
    return;
  }
  if (done) done(seq);
}

void LocalBackplane::stop() {
  std::lock_guard lock(mutex_);
  deliver_ = nullptr;
}

}  // namespace tickcast
