// A CQL round trip against the local Cassandra, run by deploy/local/smoke as a single-file program:
//   java -cp "<cassandra lib>/*" deploy/local/CqlSmoke.java 127.0.0.1 9042
// Uses the DataStax 3.x driver that ships in Cassandra's own runtime dependencies (no extra download).
import com.datastax.driver.core.Cluster;
import com.datastax.driver.core.ResultSet;
import com.datastax.driver.core.Row;
import com.datastax.driver.core.Session;
import java.util.UUID;

public class CqlSmoke {
    public static void main(String[] args) {
        String host = args.length > 0 ? args[0] : "127.0.0.1";
        int port = args.length > 1 ? Integer.parseInt(args[1]) : 9042;
        try (Cluster cluster = Cluster.builder().addContactPoint(host).withPort(port).withoutJMXReporting().build();
             Session session = cluster.connect()) {
            Row local = session.execute("SELECT release_version, cluster_name FROM system.local").one();
            System.out.printf("cassandra %s, cluster %s%n", local.getString("release_version"), local.getString("cluster_name"));

            session.execute("CREATE KEYSPACE IF NOT EXISTS thriftshop_smoke WITH replication = "
                    + "{'class': 'SimpleStrategy', 'replication_factor': 1}");
            session.execute("CREATE TABLE IF NOT EXISTS thriftshop_smoke.events "
                    + "(stream_id text, seq bigint, payload text, PRIMARY KEY (stream_id, seq))");

            // The event store's append: a lightweight transaction on (stream_id, seq).
            String stream = "smoke-" + UUID.randomUUID();
            ResultSet first = session.execute(
                    "INSERT INTO thriftshop_smoke.events (stream_id, seq, payload) VALUES (?, 1, 'a') IF NOT EXISTS", stream);
            ResultSet again = session.execute(
                    "INSERT INTO thriftshop_smoke.events (stream_id, seq, payload) VALUES (?, 1, 'b') IF NOT EXISTS", stream);
            Row read = session.execute(
                    "SELECT payload FROM thriftshop_smoke.events WHERE stream_id = ? AND seq = 1", stream).one();
            if (!first.wasApplied() || again.wasApplied() || read == null || !"a".equals(read.getString("payload"))) {
                System.err.println("CQL smoke FAILED: first applied=" + first.wasApplied()
                        + ", duplicate applied=" + again.wasApplied() + ", read=" + read);
                System.exit(1);
            }
            session.execute("DELETE FROM thriftshop_smoke.events WHERE stream_id = ?", stream);
            System.out.println("CQL ok: keyspace/table created, LWT insert applied once and rejected on conflict, row read back");
        }
    }
}
