// The Java row of the layer's runtime matrix: performs the cells named on
// the command line and prints "CELL <name> OK <value>" or "CELL <name> ERR
// <error>" for each. Compiled with javac at test time.
import java.io.InputStream;
import java.net.DatagramPacket;
import java.net.DatagramSocket;
import java.net.HttpURLConnection;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.Arrays;

public class Probe {
    static String run(String cell) throws Exception {
        switch (cell) {
            case "read":
                return Files.readString(Paths.get("/app/test.txt"));
            case "list": {
                String[] names = new java.io.File("/app").list();
                if (names == null) throw new java.io.IOException("cannot list /app");
                Arrays.sort(names);
                return String.join(",", names);
            }
            case "stat":
                return String.valueOf(Files.size(Paths.get("/app/test.txt")));
            case "kube":
                return Files.readString(Paths.get(System.getenv("HOME"), ".kube", "config"));
            case "http": {
                HttpURLConnection c = (HttpURLConnection) new URL("http://internal-only.mirrord-e2e.svc/").openConnection();
                c.setConnectTimeout(10000);
                c.setReadTimeout(10000);
                try (InputStream in = c.getInputStream()) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            }
            case "udp": {
                byte[] b = System.getenv("PROBE_TOKEN").getBytes(StandardCharsets.UTF_8);
                try (DatagramSocket s = new DatagramSocket()) {
                    s.send(new DatagramPacket(b, b.length, InetAddress.getByName("udp-logger.mirrord-e2e.svc"), 31415));
                }
                return "sent";
            }
            case "resolve-web":
                return InetAddress.getByName("web").getHostAddress();
            case "resolve-k8s":
                return InetAddress.getByName("kubernetes.default.svc").getHostAddress();
            case "hostname":
                return InetAddress.getLocalHost().getHostName();
            case "peer": {
                try (Socket s = new Socket()) {
                    s.connect(new InetSocketAddress("internal-only.mirrord-e2e.svc", 80), 10000);
                    InetSocketAddress a = (InetSocketAddress) s.getRemoteSocketAddress();
                    return a.getAddress().getHostAddress() + ":" + a.getPort();
                }
            }
        }
        throw new IllegalArgumentException("unknown cell " + cell);
    }

    public static void main(String[] args) {
        for (String cell : args) {
            try {
                System.out.println("CELL " + cell + " OK " + run(cell).trim().replace("\n", "\\n"));
            } catch (Exception e) {
                System.out.println("CELL " + cell + " ERR " + e.getClass().getSimpleName() + ": " + String.valueOf(e.getMessage()).replace("\n", "\\n"));
            }
        }
    }
}
