{
  "targets": [
    {
      "target_name": "epoll_reactor",
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-fno-exceptions", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror=switch"],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED",
                  "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"],
      "conditions": [
        ["OS=='linux'", {
          "sources": [
            "src-native/addon.cc",
            "src-native/reactor.cc",
            "src-native/loop.cc",
            "src-native/listener.cc",
            "src-native/fd_table.cc",
            "src-native/connection.cc",
            "src-native/sys.cc",
            "src-native/timers.cc",
            "src-native/forwarder.cc",
            "src-native/flow_control.cc",
            "src-native/read_arena.cc",
            "src-native/tls_context.cc",
            "src-native/tls_node_context.cc",
            "src-native/tls_query.cc",
            "src-native/tls_server_flight.cc",
            "src-native/tls_session.cc",
            "src-native/tls_server_sessions.cc"
          ],
          "libraries": ["-lpthread", "-ldl"]
        }, {
          "sources": ["src-native/unsupported.cc"]
        }]
      ]
    }
  ]
}
