#pragma once
// A small epoll loop on its own thread: level-triggered watchers, tasks posted from other
// threads (woken through an eventfd), and one periodic hook.

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tickcast::bench {

/// EventLoop runs watchers of file descriptors on one thread.
/// Threads: post() and stop() from any thread; add/modify/remove and everything the
/// watchers do only on the loop thread (i.e. from watchers, posted tasks or the hook).
class EventLoop {
 public:
  /// Watcher is told which epoll events its descriptor has.
  class Watcher {
   public:
    virtual ~Watcher() = default;
    virtual void on_ready(std::uint32_t events) = 0;
  };

  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  /// start runs the loop on a new thread; `every` is called at least every `period`, and
  /// `after_round` at the end of each round of the loop (the ready watchers, the posted
  /// tasks and `every`).
  void start(std::chrono::milliseconds period = std::chrono::milliseconds(100),
             std::function<void()> every = {}, std::function<void()> after_round = {});
  /// poll_every, set before start(), makes the loop poll instead of sleep: each round takes
  /// what is ready without waiting, then the thread sleeps `every` when the round was not
  /// full. A peer's write then never has to wake this thread. Zero (the default): each round
  /// waits in epoll_wait until something is ready.
  void poll_every(std::chrono::microseconds every) { poll_every_ = every; }
  /// voluntary_switches counts the times the loop thread has gone to sleep so far (its
  /// voluntary context switches); 0 before the thread runs.
  std::uint64_t voluntary_switches() const;
  /// stop ends the loop and joins its thread. Idempotent.
  void stop();
  /// post runs `task` on the loop thread soon.
  void post(std::function<void()> task);

  bool add(int fd, std::uint32_t events, Watcher* watcher);
  void modify(int fd, std::uint32_t events, Watcher* watcher);
  void remove(int fd);

 private:
  void run();
  void run_posted();

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  std::chrono::milliseconds period_{100};
  std::chrono::microseconds poll_every_{0};
  std::atomic<pid_t> tid_{0};
  std::function<void()> every_;
  std::function<void()> after_round_;
  std::mutex mutex_;
  std::vector<std::function<void()>> posted_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace tickcast::bench
