#pragma once
// A child process for tests and the bench (tickcast-server, nats-server, mosquitto and its
// clients): started with fork/exec, its output in a log file or a pipe, stopped by pid.
// Waits are conditions with deadlines, never fixed sleeps.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tickcast::support {

/// ChildOptions says how to start a ChildProcess.
struct ChildOptions {
  /// argv: the program and its arguments; a program without '/' is looked up on PATH.
  std::vector<std::string> argv{};
  /// env: "NAME=value" entries added to (or replacing in) the parent's environment.
  std::vector<std::string> env{};
  /// Output is where the child's stdout goes. `log_file`: stdout and stderr both go to
  /// log_path. `pipe`: stdout is read through read_line/read_all/output, stderr is
  /// inherited (it shows in the test's own output).
  enum class Output { log_file, pipe };
  Output output = Output::log_file;
  /// log_path: the log file, appended to and kept; "" is a temporary file removed with
  /// the ChildProcess.
  std::string log_path{};
  /// stdin_pipe: the child reads its stdin from write_stdin (until close_stdin); else from
  /// /dev/null.
  bool stdin_pipe = false;
  /// stderr_pipe (Output::pipe): stderr goes to a second pipe, read with errors(), instead of
  /// the test's own output.
  bool stderr_pipe = false;
  /// die_with_parent: the child gets SIGTERM when its parent dies (the bench's servers
  /// must never outlive it).
  bool die_with_parent = false;
  /// cpus: the CPUs the child (and what it starts) may run on; empty: the parent's.
  std::vector<int> cpus{};
  /// stop_grace: how long the destructor waits after SIGTERM before SIGKILL; zero kills
  /// at once.
  std::chrono::milliseconds stop_grace = std::chrono::seconds(10);
};

/// ChildProcess is one running program. Threads: one owner.
class ChildProcess {
 public:
  /// ChildProcess starts the program; throws std::runtime_error if it cannot be run.
  explicit ChildProcess(ChildOptions options);
  /// ~ChildProcess stops the child if it still runs (terminate(stop_grace)) and removes a
  /// temporary log file.
  ~ChildProcess();
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  /// running tells whether the child has not exited yet (it reaps it once it has).
  bool running();
  /// exit_status is the status (as from waitpid) once the child has been reaped.
  std::optional<int> exit_status() const { return status_; }
  /// output returns what the child printed so far, its last `max_bytes` at most
  /// (then prefixed with "...").
  std::string output(std::size_t max_bytes = std::string::npos);
  /// wait_for_output waits until the child has printed `text`; false if not within
  /// `timeout` or if the child exited without printing it.
  bool wait_for_output(std::string_view text, std::chrono::milliseconds timeout);
  /// read_line (Output::pipe) returns the next line of stdout, without its '\n', or
  /// nullopt on EOF or after `timeout`.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// read_all (Output::pipe) returns what read_line has not returned yet, up to EOF or
  /// what came before `timeout`.
  std::string read_all(std::chrono::milliseconds timeout);
  /// errors (stderr_pipe) returns what the child wrote to stderr so far.
  std::string errors();
  /// write_stdin (stdin_pipe) writes `bytes` to the child's stdin; false if it cannot.
  bool write_stdin(std::string_view bytes);
  /// close_stdin (stdin_pipe) ends the child's stdin (it reads EOF).
  void close_stdin();
  /// signal sends `signal` to the child, if it was not reaped yet.
  void signal(int signal);
  /// wait waits up to `timeout` for the child to exit; its status, or nullopt.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// terminate sends SIGTERM and waits up to `grace`; returns the exit status, or nullopt
  /// if the child did not exit in time (it is then SIGKILLed and reaped). After the child
  /// was reaped it returns the status it had.
  std::optional<int> terminate(std::chrono::milliseconds grace = std::chrono::seconds(10));
  /// kill_hard sends SIGKILL and reaps the child, as a crash would end it.
  void kill_hard();

 private:
  void start(ChildOptions& options);
  bool reap(bool block);
  bool read_more(std::chrono::steady_clock::time_point deadline);
  std::string& captured();

  pid_t pid_ = -1;
  std::optional<int> status_;
  std::chrono::milliseconds stop_grace_;
  std::string log_path_;
  bool remove_log_ = false;
  int pipe_ = -1;             ///< Output::pipe: the read end of stdout
  int error_pipe_ = -1;       ///< stderr_pipe: the read end of stderr
  int stdin_ = -1;            ///< stdin_pipe: the write end of stdin
  bool stdout_done_ = false;  ///< stdout reached EOF
  std::string piped_;         ///< Output::pipe: everything read from it
  std::string error_piped_;   ///< stderr_pipe: everything read from it
  std::size_t consumed_ = 0;  ///< how much of piped_ read_line/read_all returned
  std::string log_text_;      ///< Output::log_file: the last read of the log
};

}  // namespace tickcast::support
