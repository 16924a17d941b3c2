// MQTT subscribers on libmosquitto, driven from the bench's own epoll loop (no
// mosquitto_loop_start thread per client): mosquitto_socket() is watched, and
// loop_read/loop_write/loop_misc are called when it is ready or due.
#include "mqtt_clients.h"

#include <mosquitto.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <mutex>

#include "event_loop.h"

namespace tickcast::bench {

namespace {

// Initialises libmosquitto once for the process.
void init_library() {
  static std::once_flag once;
  std::call_once(once, [] { mosquitto_lib_init(); });
}

struct MosquittoDeleter {
  void operator()(mosquitto* m) const { mosquitto_destroy(m); }
};

class MqttClients final : public ClientSet {
 public:
  MqttClients(Endpoint endpoint, std::size_t n, MqttForward forward)
      : endpoint_(std::move(endpoint)),
        forward_(std::move(forward)),
        events_topic_("tickcast/rooms/" + endpoint_.room + "/events"),
        commands_topic_("tickcast/rooms/" + endpoint_.room + "/commands") {
    init_library();
    recorder_ = std::make_unique<Recorder>(n);
    for (std::size_t i = 0; i < n; ++i) {
      auto c = std::make_unique<Client>();
      c->owner = this;
      c->index = i;
      clients_.push_back(std::move(c));
    }
    // Keep-alive pings are due by the clock, not by traffic: loop_misc every 500 ms.
    loop_.start(
        std::chrono::milliseconds(500),
        [this] {
          for (auto& c : clients_) {
            if (c->m && c->fd >= 0) {
              mosquitto_loop_misc(c->m.get());
              c->update_interest();
            }
          }
        },
        forward_.flush);
  }

  ~MqttClients() override {
    loop_.stop();
    closing_ = true;
    for (auto& c : clients_) {
      if (c->m) mosquitto_disconnect(c->m.get());
    }
  }

  void start(std::size_t n, std::size_t in_flight) override {
    loop_.post([this, n, in_flight] {
      target_ = std::min(n, clients_.size());
      in_flight_limit_ = std::max<std::size_t>(1, in_flight);
      launch();
    });
  }

  std::size_t failed() const override { return failed_.load(); }
  std::string first_error() const override {
    std::lock_guard lock(error_mutex_);
    return first_error_;
  }

  bool send_command(std::string_view json) override {
    loop_.post([this, payload = std::string(json)] {
      Client& c = *clients_.at(0);
      if (!c.m) return;
      mosquitto_publish(c.m.get(), nullptr, commands_topic_.c_str(),
                        static_cast<int>(payload.size()), payload.data(), 0, false);
      c.update_interest();
    });
    return !clients_.empty();
  }

 private:
  struct Client final : EventLoop::Watcher {
    MqttClients* owner = nullptr;
    std::size_t index = 0;
    std::unique_ptr<mosquitto, MosquittoDeleter> m;
    int fd = -1;
    bool ready = false, failed = false, want_write = false;

    void on_ready(std::uint32_t events) override {
      if (fd < 0) return;
      if (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
        const int rc = mosquitto_loop_read(m.get(), 1);
        if (rc != MOSQ_ERR_SUCCESS) return owner->fail(*this, mosquitto_strerror(rc));
      }
      if (fd >= 0 && (events & EPOLLOUT)) {
        const int rc = mosquitto_loop_write(m.get(), 1);
        if (rc != MOSQ_ERR_SUCCESS) return owner->fail(*this, mosquitto_strerror(rc));
      }
      if (fd >= 0) update_interest();
    }

    void update_interest() {
      const bool want = mosquitto_want_write(m.get());
      if (want == want_write || fd < 0) return;
      want_write = want;
      owner->loop_.modify(fd, want ? (EPOLLIN | EPOLLOUT) : EPOLLIN, this);
    }
  };

  static MqttClients::Client& of(void* user) { return *static_cast<Client*>(user); }

  void launch() {
    while (next_ < target_ && in_flight_ < in_flight_limit_) {
      Client& c = *clients_[next_++];
      ++in_flight_;
      open(c);
    }
  }

  void open(Client& c) {
    const std::string id =
        "tickcast-bench-" + std::to_string(::getpid()) + "-" + std::to_string(c.index);
    c.m.reset(mosquitto_new(id.c_str(), true, &c));
    if (!c.m) return fail(c, "mosquitto_new failed (out of file descriptors?)");
    mosquitto_connect_callback_set(c.m.get(), [](mosquitto* m, void* user, int rc) {
      Client& self = of(user);
      if (rc != 0) return self.owner->fail(self, mosquitto_connack_string(rc));
      mosquitto_subscribe(m, nullptr, self.owner->events_topic_.c_str(), 0);
    });
    mosquitto_subscribe_callback_set(c.m.get(), [](mosquitto*, void* user, int, int, const int*) {
      Client& self = of(user);
      if (self.owner->forward_.ready) {
        if (!self.ready) self.owner->forward_.ready(self.index);
      } else {
        self.owner->recorder_->mark_ready(self.index);
      }
      if (!self.ready) {
        self.ready = true;
        --self.owner->in_flight_;
        self.owner->launch();
      }
    });
    mosquitto_message_callback_set(
        c.m.get(), [](mosquitto*, void* user, const mosquitto_message* msg) {
          const std::int64_t received_us = now_us();
          Client& self = of(user);
          const std::string_view payload(static_cast<const char*>(msg->payload),
                                         static_cast<std::size_t>(msg->payloadlen));
          if (self.owner->forward_.message) {
            self.owner->forward_.message(self.index, payload, received_us);
          } else {
            self.owner->recorder_->on_message(self.index, payload, received_us);
          }
        });
    mosquitto_disconnect_callback_set(c.m.get(), [](mosquitto*, void* user, int rc) {
      Client& self = of(user);
      self.owner->fail(self, std::string("disconnected: ") + mosquitto_strerror(rc));
    });
    const int rc = mosquitto_connect(c.m.get(), endpoint_.host.c_str(), endpoint_.mqtt_port, 60);
    if (rc != MOSQ_ERR_SUCCESS) return fail(c, std::string("connect: ") + mosquitto_strerror(rc));
    c.fd = mosquitto_socket(c.m.get());
    c.want_write = mosquitto_want_write(c.m.get());
    loop_.add(c.fd, c.want_write ? (EPOLLIN | EPOLLOUT) : EPOLLIN, &c);
  }

  void fail(Client& c, const std::string& why) {
    if (closing_) return;
    if (c.fd >= 0) loop_.remove(c.fd);
    c.fd = -1;
    if (c.failed) return;
    c.failed = true;
    failed_.fetch_add(1);
    {
      std::lock_guard lock(error_mutex_);
      if (first_error_.empty()) first_error_ = "client " + std::to_string(c.index) + ": " + why;
    }
    if (forward_.failed) forward_.failed(c.index, why);
    if (!c.ready) {
      --in_flight_;
      launch();
    }
  }

  Endpoint endpoint_;
  MqttForward forward_;
  std::string events_topic_, commands_topic_;
  EventLoop loop_;
  std::vector<std::unique_ptr<Client>> clients_;
  std::size_t next_ = 0, target_ = 0, in_flight_limit_ = 0, in_flight_ = 0;
  std::atomic<std::size_t> failed_{0};
  bool closing_ = false;
  mutable std::mutex error_mutex_;
  std::string first_error_;
};

}  // namespace

std::unique_ptr<ClientSet> make_mqtt_clients(const Endpoint& endpoint, std::size_t n,
                                             MqttForward forward) {
  return std::make_unique<MqttClients>(endpoint, n, std::move(forward));
}

}  // namespace tickcast::bench
