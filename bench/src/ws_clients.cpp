// WebSocket clients on tickcast::wsclient (one libwebsockets context and service thread
// for every connection); messages are taken in its on_message callback, stamped at receipt.
#include <atomic>
#include <mutex>

#include "client_set.h"
#include "tickcast/client/ws_client.h"

namespace tickcast::bench {

namespace {

class WsClients final : public ClientSet {
 public:
  WsClients(const Endpoint& endpoint, std::size_t n)
      : url_("ws://" + endpoint.host + ":" + std::to_string(endpoint.port) + "/rooms/" +
             endpoint.room),
        conns_(n),
        ready_flags_(n) {
    recorder_ = std::make_unique<Recorder>(n);
    client::WsClientPool::set_library_log_mask(0);
    client::WsPoolOptions pool_options;
    pool_options.shutdown_grace = std::chrono::milliseconds(200);
    pool_ = std::make_unique<client::WsClientPool>(pool_options);
  }

  ~WsClients() override {
    {
      std::lock_guard lock(mutex_);
      closing_ = true;
    }
    pool_.reset();  // closes every connection and joins the service thread
  }

  void start(std::size_t n, std::size_t in_flight) override {
    std::lock_guard lock(mutex_);
    target_ = std::min(n, conns_.size());
    in_flight_limit_ = std::max<std::size_t>(1, in_flight);
    launch_locked();
  }

  std::size_t failed() const override { return failed_.load(); }
  std::string first_error() const override {
    std::lock_guard lock(mutex_);
    return first_error_;
  }

  bool send_command(std::string_view json) override {
    std::lock_guard lock(mutex_);
    return !conns_.empty() && conns_[0].send_text(std::string(json));
  }

 private:
  // Called with mutex_ held; connect() may call back on the service thread, which takes
  // mutex_ only in settle(), after connect() has returned.
  void launch_locked() {
    while (!closing_ && next_ < target_ && in_flight_ < in_flight_limit_) {
      const std::size_t i = next_++;
      ++in_flight_;
      client::WsConnectOptions options;
      options.on_message = [this, i](client::WsMessage&& m) {
        recorder_->on_message(i, m.data, m.received_us);
        if (!ready_flags_[i].exchange(true)) settle(i, {});
      };
      options.on_state = [this, i](client::WsState state) {
        if (state == client::WsState::failed || state == client::WsState::closed) {
          settle(i, std::string(client::to_string(state)));
        }
      };
      conns_[i] = pool_->connect(url_, std::move(options));
    }
  }

  // A client is no longer connecting: it has its snapshot, or it failed or closed.
  void settle(std::size_t i, const std::string& failure) {
    std::lock_guard lock(mutex_);
    if (closing_) return;
    if (!failure.empty()) {
      failed_.fetch_add(1);
      if (first_error_.empty()) {
        std::string why = failure;
        if (conns_[i].valid()) {
          if (!conns_[i].error().empty()) why += ": " + conns_[i].error();
          if (conns_[i].http_status() != 0)
            why += " (HTTP " + std::to_string(conns_[i].http_status()) + ")";
          if (auto code = conns_[i].close_code()) why += " (close " + std::to_string(*code) + ")";
        }
        first_error_ = "client " + std::to_string(i) + ": " + why;
      }
      if (ready_flags_[i].exchange(true)) return;  // was ready: not in flight any more
    }
    --in_flight_;
    launch_locked();
  }

  std::string url_;
  std::unique_ptr<client::WsClientPool> pool_;
  mutable std::mutex mutex_;
  std::vector<client::WsConnection> conns_;
  std::vector<std::atomic<bool>> ready_flags_;
  std::size_t next_ = 0, target_ = 0, in_flight_limit_ = 0, in_flight_ = 0;
  bool closing_ = false;
  std::atomic<std::size_t> failed_{0};
  std::string first_error_;
};

}  // namespace

std::unique_ptr<ClientSet> make_ws_clients(const Endpoint& endpoint, std::size_t n) {
  return std::make_unique<WsClients>(endpoint, n);
}

}  // namespace tickcast::bench
