// The Java row of the incoming steal language matrix: a
// com.sun.net.httpserver.HttpServer on port 80 on every address, answering
// every request (GET /healthz too: the kubelet's probes are stolen with
// the rest) with "LOCAL java <path> peer=<ip>", where <ip> is
// exchange.getRemoteAddress(), and printing one JSON line per request.
// Compiled with javac at test time.

import com.sun.net.httpserver.HttpServer;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.Executors;

public class Server {
    public static void main(String[] args) throws Exception {
        HttpServer server = HttpServer.create(new InetSocketAddress(80), 64);
        server.createContext("/", exchange -> {
            String path = exchange.getRequestURI().getPath();
            String peer = exchange.getRemoteAddress().getAddress().getHostAddress();
            synchronized (System.out) {
                System.out.println("{\"ev\":\"req\",\"lang\":\"java\",\"path\":\"" + path + "\",\"peer\":\"" + peer + "\"}");
                System.out.flush();
            }
            byte[] body = ("LOCAL java " + path + " peer=" + peer + "\n").getBytes(StandardCharsets.UTF_8);
            exchange.getResponseHeaders().set("Content-Type", "text/plain");
            exchange.sendResponseHeaders(200, body.length);
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(body);
            }
        });
        server.setExecutor(Executors.newCachedThreadPool());
        server.start();
    }
}
