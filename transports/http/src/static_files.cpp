// Serves the web page's files from ServerOptions::web_root.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "tickcast/http/internal/loop.h"

namespace tickcast::http::internal {

namespace {

std::string content_type_of(const std::filesystem::path& path) {
  const std::string ext = path.extension().string();
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js" || ext == ".mjs") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  if (ext == ".json") return "application/json";
  if (ext == ".svg") return "image/svg+xml";
  if (ext == ".png") return "image/png";
  if (ext == ".ico") return "image/x-icon";
  if (ext == ".txt") return "text/plain; charset=utf-8";
  return "application/octet-stream";
}

}  // namespace

void Loop::serve_static(const Request& request, Response& response) const {
  namespace fs = std::filesystem;
  std::string relative = request.path == "/" ? "index.html" : request.path.substr(1);
  // Hidden files and any dot segment are never served.
  if (relative.find("/.") != std::string::npos || relative.front() == '.' ||
      relative.find('\\') != std::string::npos) {
    response = failure(FailureCode::not_found, "no such path: " + request.path);
    return;
  }
  std::error_code error;
  const fs::path root = fs::weakly_canonical(options_.web_root, error);
  const fs::path file = fs::weakly_canonical(root / relative, error);
  const auto [root_end, ignored] =
      std::mismatch(root.begin(), root.end(), file.begin(), file.end());
  (void)ignored;
  if (error || root_end != root.end() || !fs::is_regular_file(file, error)) {
    response = failure(FailureCode::not_found, "no such path: " + request.path);
    return;
  }
  std::ifstream in(file, std::ios::binary);
  std::ostringstream body;
  body << in.rdbuf();
  response.status = 200;
  response.content_type = content_type_of(file);
  response.body = std::move(body).str();
  response.headers.emplace_back("cache-control", "no-cache");
  response.headers.emplace_back("x-content-type-options", "nosniff");
}

}  // namespace tickcast::http::internal
