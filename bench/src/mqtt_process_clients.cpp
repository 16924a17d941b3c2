// MQTT subscribers spread over child processes of tickcast-bench. Each child runs the same
// libmosquitto clients as the in-process set and forwards, over a socketpair, every
// subscription (ready), every message with the receipt time it stamped, and every failure.
// This process feeds them into one Recorder, so the report's figures are the children's
// own samples and counts. Forwarding is off the clients' loop: the loop appends to a
// buffer, a writer thread sends it, so no client's read waits on the socketpair.
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "mqtt_clients.h"
#include "process/child_process.h"
#include "process_sample.h"

namespace tickcast::bench {

namespace {

using support::ChildProcess;

// One record, child to bench: a header, then `length` bytes (a payload or an error).
enum class Kind : std::uint8_t { ready = 1, message = 2, failed = 3 };
struct RecordHeader {
  Kind kind;
  std::uint32_t client;
  std::int64_t received_us;
  std::uint32_t length;
};

bool write_all(int fd, const char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool read_all(int fd, char* data, std::size_t size) {
  while (size > 0) {
    const ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

// RecordReader reads a child's records through one large buffer: one read() brings in
// hundreds of records, so the bench's own plumbing costs next to no CPU beside the clients
// and the broker it measures (two reads per record did: 20,000 a tick at 10,000 clients).
class RecordReader {
 public:
  explicit RecordReader(int fd) : fd_(fd), buffer_(1 << 18) {}

  // next() points `header` and `data` at the next whole record; false at the end of the
  // stream or on an error. `data` stays valid until the next call.
  bool next(RecordHeader& header, std::string_view& data) {
    for (;;) {
      const std::size_t available = end_ - begin_;
      if (available >= sizeof header) {
        std::memcpy(&header, buffer_.data() + begin_, sizeof header);
        const std::size_t size = sizeof header + header.length;
        if (available >= size) {
          data = std::string_view(buffer_.data() + begin_ + sizeof header, header.length);
          begin_ += size;
          return true;
        }
        if (size > buffer_.size()) buffer_.resize(size);
      }
      if (begin_ > 0) {  // keep the partial record at the front
        std::memmove(buffer_.data(), buffer_.data() + begin_, available);
        begin_ = 0;
        end_ = available;
      }
      const ssize_t n = ::read(fd_, buffer_.data() + end_, buffer_.size() - end_);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      end_ += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
  std::vector<char> buffer_;
  std::size_t begin_ = 0, end_ = 0;
};

// UniqueFd closes its descriptor.
class UniqueFd {
 public:
  explicit UniqueFd(int fd = -1) : fd_(fd) {}
  ~UniqueFd() { reset(); }
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// ForwardWriter batches records from the clients' loop and writes them on its own thread,
// woken once per round of the clients' loop (flush), not per record.
class ForwardWriter {
 public:
  explicit ForwardWriter(int fd) : fd_(fd), thread_([this] { run(); }) {}
  ~ForwardWriter() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
  }
  ForwardWriter(const ForwardWriter&) = delete;
  ForwardWriter& operator=(const ForwardWriter&) = delete;

  void add(Kind kind, std::size_t client, std::int64_t received_us, std::string_view data) {
    const RecordHeader header{kind, static_cast<std::uint32_t>(client), received_us,
                              static_cast<std::uint32_t>(data.size())};
    std::lock_guard lock(mutex_);
    pending_.append(reinterpret_cast<const char*>(&header), sizeof header);
    pending_.append(data);
  }

  void flush() {
    {
      std::lock_guard lock(mutex_);
      if (pending_.empty()) return;
    }
    wake_.notify_one();
  }

 private:
  void run() {
    std::string sending;
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
        if (pending_.empty() && stopping_) return;
        sending.swap(pending_);
      }
      if (!write_all(fd_, sending.data(), sending.size())) return;  // the bench is gone
      sending.clear();
    }
  }

  int fd_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::string pending_;
  bool stopping_ = false;
  std::thread thread_;
};

class MqttProcessClients final : public ClientSet {
 public:
  MqttProcessClients(const Endpoint& endpoint, std::size_t n, std::size_t processes,
                     const std::string& self_path)
      : endpoint_(endpoint), self_path_(self_path) {
    recorder_ = std::make_unique<Recorder>(n);
    processes = std::max<std::size_t>(1, std::min(processes, std::max<std::size_t>(1, n)));
    std::size_t offset = 0;
    for (std::size_t i = 0; i < processes; ++i) {
      const std::size_t count = n / processes + (i < n % processes ? 1 : 0);
      children_.push_back(std::make_unique<Child>());
      children_.back()->offset = offset;
      children_.back()->count = count;
      offset += count;
    }
  }

  ~MqttProcessClients() override {
    closing_ = true;
    for (auto& c : children_) {
      if (c->socket.get() >= 0) ::shutdown(c->socket.get(), SHUT_WR);  // the child leaves
    }
    for (auto& c : children_) {
      if (c->process) c->process->terminate(std::chrono::seconds(5));
      if (c->reader.joinable()) c->reader.join();
    }
  }

  void start(std::size_t n, std::size_t in_flight) override {
    (void)n;  // every child starts all of its share
    const std::size_t per_child = std::max<std::size_t>(1, in_flight / children_.size());
    for (std::size_t i = 0; i < children_.size(); ++i) {
      Child& c = *children_[i];
      int pair[2];
      if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
        fail_child(c, std::string("socketpair: ") + std::strerror(errno));
        continue;
      }
      c.socket = UniqueFd(pair[0]);
      UniqueFd child_end(pair[1]);
      ::fcntl(child_end.get(), F_SETFD, 0);  // inherited by this child only: closed below
      try {
        c.process = std::make_unique<ChildProcess>(support::ChildOptions{
            .argv = {self_path_, "--mqtt-child", std::to_string(child_end.get()), endpoint_.host,
                     std::to_string(endpoint_.mqtt_port), endpoint_.room, std::to_string(c.count),
                     std::to_string(per_child)},
            .die_with_parent = true});
      } catch (const std::exception& e) {
        fail_child(c, e.what());
        continue;
      }
      child_end.reset();
      c.reader = std::thread([this, &c] { read_child(c); });
    }
  }

  std::size_t failed() const override { return failed_.load(); }
  std::string first_error() const override {
    std::lock_guard lock(error_mutex_);
    return first_error_;
  }

  bool send_command(std::string_view json) override {
    if (children_.empty() || children_[0]->socket.get() < 0) return false;
    const auto length = static_cast<std::uint32_t>(json.size());
    std::lock_guard lock(command_mutex_);
    return write_all(children_[0]->socket.get(), reinterpret_cast<const char*>(&length),
                     sizeof length) &&
           write_all(children_[0]->socket.get(), json.data(), json.size());
  }

  double other_processes_cpu_seconds() const override {
    double seconds = 0;
    for (const auto& c : children_) {
      if (c->process) seconds += sample_tree(c->process->pid()).cpu_seconds;
    }
    return seconds;
  }

  std::size_t processes() const override { return children_.size(); }

 private:
  struct Child {
    std::size_t offset = 0, count = 0;
    UniqueFd socket;
    std::unique_ptr<ChildProcess> process;
    std::thread reader;
    std::size_t failed = 0;  ///< of its clients, reported failed (reader thread only)
  };

  // Reads one child's records until it closes; its clients that never reported a failure
  // count as failed when it goes away early.
  void read_child(Child& c) {
    std::vector<bool> failed(c.count, false), ready(c.count, false);
    RecordReader reader(c.socket.get());
    RecordHeader header{};
    std::string_view data;
    while (reader.next(header, data)) {
      if (header.client >= c.count) {
        record_failure("mqtt child sent client " + std::to_string(header.client) + " of " +
                       std::to_string(c.count));
        break;
      }
      const std::size_t client = c.offset + header.client;
      switch (header.kind) {
        case Kind::ready:
          ready[header.client] = true;
          recorder_->mark_ready(client);
          break;
        case Kind::message:
          recorder_->on_message(client, data, header.received_us);
          break;
        case Kind::failed:
          if (!failed[header.client]) {
            failed[header.client] = true;
            ++c.failed;
            failed_.fetch_add(1);
            record_failure("client " + std::to_string(client) + ": " + std::string(data));
          }
          break;
        default:
          record_failure("mqtt child sent an unknown record");
          return;
      }
    }
    if (closing()) return;
    // The child went away while the run needed it: what it held is lost.
    std::size_t gone = 0;
    for (std::size_t i = 0; i < c.count; ++i) gone += failed[i] ? 0 : 1;
    failed_.fetch_add(gone);
    record_failure("mqtt child process exited early: " +
                   (c.process ? c.process->output(400) : std::string()));
  }

  bool closing() const { return closing_.load(); }

  void fail_child(Child& c, const std::string& why) {
    failed_.fetch_add(c.count);
    record_failure(why);
  }

  void record_failure(const std::string& why) {
    std::lock_guard lock(error_mutex_);
    if (first_error_.empty()) first_error_ = why;
  }

  Endpoint endpoint_;
  std::string self_path_;
  std::vector<std::unique_ptr<Child>> children_;
  std::atomic<std::size_t> failed_{0};
  std::atomic<bool> closing_{false};
  mutable std::mutex error_mutex_;
  std::string first_error_;
  std::mutex command_mutex_;
};

}  // namespace

std::size_t mqtt_processes(std::size_t n, std::size_t per_process) {
  if (per_process == 0 || n <= per_process) return 0;
  return (n + per_process - 1) / per_process;
}

std::unique_ptr<ClientSet> make_mqtt_process_clients(const Endpoint& endpoint, std::size_t n,
                                                     std::size_t processes,
                                                     const std::string& self_path) {
  return std::make_unique<MqttProcessClients>(endpoint, n, processes, self_path);
}

int run_mqtt_child(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr, "usage: tickcast-bench --mqtt-child FD HOST PORT ROOM N IN_FLIGHT\n");
    return 2;
  }
  UniqueFd socket(std::atoi(argv[2]));
  ::fcntl(socket.get(), F_SETFD, FD_CLOEXEC);
  Endpoint endpoint;
  endpoint.host = argv[3];
  endpoint.mqtt_port = std::atoi(argv[4]);
  endpoint.room = argv[5];
  const auto n = static_cast<std::size_t>(std::strtoull(argv[6], nullptr, 10));
  const auto in_flight = static_cast<std::size_t>(std::strtoull(argv[7], nullptr, 10));

  ForwardWriter writer(socket.get());
  MqttForward forward;
  forward.ready = [&writer](std::size_t client) { writer.add(Kind::ready, client, 0, {}); };
  forward.message = [&writer](std::size_t client, std::string_view payload,
                              std::int64_t received_us) {
    writer.add(Kind::message, client, received_us, payload);
  };
  forward.failed = [&writer](std::size_t client, const std::string& why) {
    writer.add(Kind::failed, client, 0, why);
  };
  forward.flush = [&writer] { writer.flush(); };
  auto clients = make_mqtt_clients(endpoint, n, std::move(forward));
  clients->start(n, in_flight);
  // Commands from the bench until it closes its end.
  std::uint32_t length = 0;
  std::string command;
  while (read_all(socket.get(), reinterpret_cast<char*>(&length), sizeof length)) {
    command.resize(length);
    if (length > 0 && !read_all(socket.get(), command.data(), command.size())) break;
    clients->send_command(command);
  }
  clients.reset();  // disconnects; nothing more is forwarded after this
  return 0;
}

}  // namespace tickcast::bench
