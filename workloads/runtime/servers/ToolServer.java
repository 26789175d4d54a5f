// The tool catalog's JSON transform, text search and table query in Java,
// served one call at a time over stdin/stdout (one long-lived JVM per pool
// worker). Each output is byte for byte what the Python tool returns, so
// the SHA-256 digests of workloads.tools.catalog check it.
//
// Start: java ToolServer INPUT_DIR WARMUP_MS. INPUT_DIR holds
// TOOL.K.json, the K-th seeded input of each tool as JSON. After calling
// every tool round robin for WARMUP_MS (one round at least) it prints "READY". Request lines: "ID TOOL INDEX"; answer
// lines: "ID 0 CPU_NS SHA256HEX" or "ID 1 CPU_NS MESSAGE" (the tool threw).
// The tools fail, sleep and exhaust_heap exist for the tests.
import java.io.*;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.security.MessageDigest;
import java.util.*;
import java.util.regex.*;

public final class ToolServer {
    interface Tool { byte[] run(Object payload) throws Exception; }

    static final Map<String, Tool> TOOLS = new LinkedHashMap<>();
    static {
        TOOLS.put("noop", p -> new byte[0]);
        TOOLS.put("json_transform", ToolServer::jsonTransform);
        TOOLS.put("text_search", ToolServer::textSearch);
        TOOLS.put("table_query", ToolServer::tableQuery);
        TOOLS.put("fail", p -> { throw new IllegalStateException("tool failed on purpose"); });
        TOOLS.put("sleep", p -> { Thread.sleep(((Number) p).longValue()); return new byte[0]; });
        TOOLS.put("exhaust_heap", p -> {
            List<long[]> hold = new ArrayList<>();
            while (true) hold.add(new long[1 << 20]);
        });
    }

    public static void main(String[] args) throws Exception {
        Path dir = Paths.get(args[0]);
        long warmupMs = Long.parseLong(args[1]);
        Map<String, List<Object>> inputs = new HashMap<>();
        for (String name : TOOLS.keySet()) {
            List<Object> list = new ArrayList<>();
            for (int k = 0; Files.exists(dir.resolve(name + "." + k + ".json")); k++)
                list.add(Json.parse(new String(Files.readAllBytes(dir.resolve(name + "." + k + ".json")),
                                               StandardCharsets.UTF_8)));
            inputs.put(name, list);
        }
        long warmEnd = System.nanoTime() + warmupMs * 1_000_000L;
        for (int i = 0; i == 0 || System.nanoTime() < warmEnd; i++)  // the JIT compiles the hot paths
            for (Map.Entry<String, List<Object>> e : inputs.entrySet())
                if (!e.getValue().isEmpty() && !e.getKey().equals("sleep") && !e.getKey().equals("exhaust_heap"))
                    try { TOOLS.get(e.getKey()).run(e.getValue().get(i % e.getValue().size())); } catch (Exception ignored) { }
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        PrintStream out = new PrintStream(new BufferedOutputStream(new FileOutputStream(FileDescriptor.out)), false, "UTF-8");
        out.print("READY\n");
        out.flush();
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split(" ");
            long t0 = threads.getCurrentThreadCpuTime();
            String answer;
            try {
                Tool tool = TOOLS.get(f[1]);
                if (tool == null) throw new IllegalArgumentException("unknown tool " + f[1]);
                byte[] output = tool.run(inputs.get(f[1]).get(Integer.parseInt(f[2])));
                answer = "0 " + (threads.getCurrentThreadCpuTime() - t0) + " " + hex(sha.digest(output));
            } catch (Exception e) {
                String msg = (e.getClass().getSimpleName() + ": " + e.getMessage()).replaceAll("\\s+", " ");
                answer = "1 " + (threads.getCurrentThreadCpuTime() - t0) + " " + msg;
            }
            out.print(f[0] + " " + answer + "\n");
            out.flush();
        }
    }

    static String hex(byte[] b) {
        StringBuilder s = new StringBuilder(64);
        for (byte x : b) s.append(Character.forDigit((x >> 4) & 15, 16)).append(Character.forDigit(x & 15, 16));
        return s.toString();
    }

    // -- json_transform -----------------------------------------------------
    @SuppressWarnings("unchecked")
    static byte[] jsonTransform(Object payload) {
        Map<String, Object> doc = (Map<String, Object>) Json.parse((String) payload);
        List<Map<String, Object>> kept = new ArrayList<>();
        for (Object o : (List<Object>) doc.get("data")) {
            Map<String, Object> row = (Map<String, Object>) o;
            double score = ((Number) row.get("score")).doubleValue();
            if (!"active".equals(row.get("status")) || score < 50) continue;
            long total = 0;
            for (Object h : (List<Object>) row.get("history")) total += ((Number) h).longValue();
            Map<String, Object> item = new TreeMap<>();
            item.put("id", row.get("id"));
            item.put("name", title((String) row.get("name")));
            item.put("city", ((Map<String, Object>) row.get("address")).get("city"));
            item.put("score_bucket", (long) Math.floor(score / 10) * 10);
            item.put("tag_count", (long) ((List<Object>) row.get("tags")).size());
            item.put("history_total", total);
            kept.add(item);
        }
        kept.sort(Comparator.comparingLong((Map<String, Object> r) -> -(Long) r.get("score_bucket"))
                  .thenComparing(r -> (String) r.get("id")));
        Map<String, Object> byCity = new TreeMap<>();
        for (Map<String, Object> r : kept) byCity.merge((String) r.get("city"), 1L, (a, b) -> (Long) a + (Long) b);
        Map<String, Object> out = new TreeMap<>();
        out.put("items", kept);
        out.put("by_city", byCity);
        out.put("count", (long) kept.size());
        return Json.dump(out, ",", ":").getBytes(StandardCharsets.UTF_8);
    }

    // Python's str.title(): upper case after a non-letter, lower case after a letter.
    static String title(String s) {
        StringBuilder b = new StringBuilder(s.length());
        boolean prevLetter = false;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            b.append(prevLetter ? Character.toLowerCase(c) : Character.toUpperCase(c));
            prevLetter = Character.isLetter(c);
        }
        return b.toString();
    }

    // -- text_search --------------------------------------------------------
    static final int TOP_HITS = 10;

    @SuppressWarnings("unchecked")
    static byte[] textSearch(Object payload) {
        Map<String, Object> p = (Map<String, Object>) payload;
        List<Object> docs = (List<Object>) p.get("documents");
        Map<String, Object> results = new TreeMap<>();
        for (Object pat : (List<Object>) p.get("patterns")) {
            Pattern rx = Pattern.compile((String) pat);
            List<long[]> scored = new ArrayList<>();
            for (int i = 0; i < docs.size(); i++) {
                Matcher m = rx.matcher((String) docs.get(i));
                long n = 0;
                while (m.find()) n++;
                if (n > 0) scored.add(new long[] {n, i});
            }
            scored.sort((a, b) -> a[0] != b[0] ? Long.compare(b[0], a[0]) : Long.compare(a[1], b[1]));
            List<Object> top = new ArrayList<>();
            for (long[] s : scored.subList(0, Math.min(TOP_HITS, scored.size())))
                top.add(Arrays.asList(s[1], s[0]));
            results.put((String) pat, top);
        }
        return Json.dump(results, ", ", ": ").getBytes(StandardCharsets.UTF_8);
    }

    // -- table_query --------------------------------------------------------
    static final int TOP_K = 10;

    @SuppressWarnings("unchecked")
    static byte[] tableQuery(Object payload) {
        Map<String, Object> p = (Map<String, Object>) payload;
        Map<Long, String[]> customers = new HashMap<>();
        String[] lines = ((String) p.get("customers")).split("\n");
        for (int i = 1; i < lines.length; i++) {
            String[] c = lines[i].split(",");
            customers.put(Long.parseLong(c[0]), c);
        }
        Map<String, double[]> groups = new TreeMap<>();  // region\0category -> revenue, orders, units
        lines = ((String) p.get("orders")).split("\n");
        for (int i = 1; i < lines.length; i++) {
            String[] o = lines[i].split(",");
            String[] c = customers.get(Long.parseLong(o[1]));
            if (c == null || Long.parseLong(c[2]) < 2) continue;
            double[] g = groups.computeIfAbsent(c[1] + "\0" + o[2], k -> new double[3]);
            g[0] += Double.parseDouble(o[3]);
            g[1] += 1;
            g[2] += Long.parseLong(o[4]);
        }
        List<Map.Entry<String, double[]>> rows = new ArrayList<>(groups.entrySet());
        rows.sort((a, b) -> a.getValue()[0] != b.getValue()[0]
                  ? Double.compare(b.getValue()[0], a.getValue()[0]) : a.getKey().compareTo(b.getKey()));
        StringBuilder out = new StringBuilder("region,category,revenue,orders,units\n");
        for (Map.Entry<String, double[]> r : rows.subList(0, Math.min(TOP_K, rows.size()))) {
            String[] key = r.getKey().split("\0");
            double[] g = r.getValue();
            out.append(key[0]).append(',').append(key[1]).append(',')
               .append(String.format(Locale.ROOT, "%.2f", g[0])).append(',')
               .append((long) g[1]).append(',').append((long) g[2]).append('\n');
        }
        return out.toString().getBytes(StandardCharsets.UTF_8);
    }

    // -- JSON as Python's json module reads and writes it --------------------
    static final class Json {
        private final String s;
        private int i;

        private Json(String s) { this.s = s; }

        static Object parse(String text) {
            Json j = new Json(text);
            Object v = j.value();
            j.ws();
            if (j.i != text.length()) throw new IllegalArgumentException("trailing data at " + j.i);
            return v;
        }

        private void ws() { while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++; }

        private Object value() {
            ws();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++; ws();
                if (s.charAt(i) == '}') { i++; return m; }
                while (true) {
                    ws();
                    String k = string();
                    ws(); expect(':');
                    m.put(k, value());
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect('}');
                    return m;
                }
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++; ws();
                if (s.charAt(i) == ']') { i++; return l; }
                while (true) {
                    l.add(value());
                    ws();
                    if (s.charAt(i) == ',') { i++; continue; }
                    expect(']');
                    return l;
                }
            }
            if (c == '"') return string();
            if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
            if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
            if (s.startsWith("null", i)) { i += 4; return null; }
            int start = i;
            boolean real = false;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) {
                real |= ".eE".indexOf(s.charAt(i)) >= 0;
                i++;
            }
            String num = s.substring(start, i);
            if (num.isEmpty()) throw new IllegalArgumentException("unexpected '" + c + "' at " + start);
            return real ? (Object) Double.parseDouble(num) : (Object) Long.parseLong(num);
        }

        private void expect(char c) {
            if (s.charAt(i) != c) throw new IllegalArgumentException("expected '" + c + "' at " + i);
            i++;
        }

        private String string() {
            expect('"');
            StringBuilder b = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
        }

        // json.dumps(sort_keys=True, ensure_ascii=True) with the given separators;
        // maps are TreeMaps (sorted) or sorted here.
        @SuppressWarnings("unchecked")
        static String dump(Object v, String item, String key) {
            StringBuilder b = new StringBuilder();
            write(b, v, item, key);
            return b.toString();
        }

        @SuppressWarnings("unchecked")
        private static void write(StringBuilder b, Object v, String item, String key) {
            if (v instanceof Map) {
                b.append('{');
                boolean first = true;
                for (Map.Entry<String, Object> e : new TreeMap<>((Map<String, Object>) v).entrySet()) {
                    if (!first) b.append(item);
                    first = false;
                    quote(b, e.getKey());
                    b.append(key);
                    write(b, e.getValue(), item, key);
                }
                b.append('}');
            } else if (v instanceof List) {
                b.append('[');
                boolean first = true;
                for (Object x : (List<Object>) v) {
                    if (!first) b.append(item);
                    first = false;
                    write(b, x, item, key);
                }
                b.append(']');
            } else if (v instanceof String) {
                quote(b, (String) v);
            } else if (v == null) {
                b.append("null");
            } else {
                b.append(v);  // Long, Integer, Boolean: the tools write no floats
            }
        }

        private static void quote(StringBuilder b, String s) {
            b.append('"');
            for (int k = 0; k < s.length(); k++) {
                char c = s.charAt(k);
                switch (c) {
                    case '"': b.append("\\\""); break;
                    case '\\': b.append("\\\\"); break;
                    case '\n': b.append("\\n"); break;
                    case '\r': b.append("\\r"); break;
                    case '\t': b.append("\\t"); break;
                    case '\b': b.append("\\b"); break;
                    case '\f': b.append("\\f"); break;
                    default:
                        if (c < 0x20 || c > 0x7e && c != 0x7f) b.append(String.format("\\u%04x", (int) c));
                        else b.append(c);
                }
            }
            b.append('"');
        }
    }
}
