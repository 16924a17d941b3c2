#include "curl.h"

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "server_process.h"

namespace tickcast::testing {

std::string quote(const std::string& text) {
  std::string out = "'";
  for (char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

CurlResult curl(const std::string& args) {
  constexpr const char* kMarker = "\n@@curl@@ ";
  const std::string out =
      run_command("curl -sS " + args + " -w " +
                  quote(std::string(kMarker) + "%{http_code} %{http_version}") + " 2>/dev/null");
  CurlResult result;
  const auto at = out.rfind(kMarker);
  if (at == std::string::npos) {
    result.body = out;
    return result;
  }
  result.body = out.substr(0, at);
  const std::string tail = out.substr(at + std::char_traits<char>::length(kMarker));
  const auto space = tail.find(' ');
  result.status = std::atoi(tail.substr(0, space).c_str());
  if (space != std::string::npos) result.http_version = tail.substr(space + 1);
  return result;
}

TempDir::TempDir() {
  char name[] = "/tmp/tickcast-test-XXXXXX";
  if (!::mkdtemp(name)) throw std::runtime_error("mkdtemp failed");
  dir_ = name;
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

void make_certificate(const std::string& cert_file, const std::string& key_file,
                      const std::string& common_name) {
  const std::string command =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
      " -keyout " +
      quote(key_file) + " -out " + quote(cert_file) + " -subj " + quote("/CN=" + common_name) +
      " -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >/dev/null 2>&1 && echo ok";
  if (run_command(command).find("ok") == std::string::npos) {
    throw std::runtime_error("openssl could not make a certificate");
  }
}

void write_file(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  if (!out) throw std::runtime_error("cannot write " + path);
}

}  // namespace tickcast::testing
