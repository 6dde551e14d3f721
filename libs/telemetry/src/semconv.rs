//! Attribute names of the OpenTelemetry semantic conventions used on thriftshop spans, and the special fields
//! tracing-opentelemetry understands. Write them as quoted field names in span macros:
//! `info_span!("cart/add_lines", "rpc.system" = "thrift", "rpc.service" = "cart", otel.kind = "client")`.

// ---- special fields read by tracing-opentelemetry
/// Overrides the span name (lets a span built with a static name carry a dynamic one).
pub const OTEL_NAME: &str = "otel.name";
/// Span kind: `server`, `client`, `producer`, `consumer` or `internal`.
pub const OTEL_KIND: &str = "otel.kind";
/// Span status: `ok` or `error` (record it with `span.record(OTEL_STATUS_CODE, "error")`).
pub const OTEL_STATUS_CODE: &str = "otel.status_code";
/// Status description accompanying an `error` status.
pub const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";

// ---- RPC (Thrift)
pub const RPC_SYSTEM: &str = "rpc.system";
/// Value of `rpc.system` for every Thrift call.
pub const RPC_SYSTEM_THRIFT: &str = "thrift";
pub const RPC_SERVICE: &str = "rpc.service";
pub const RPC_METHOD: &str = "rpc.method";
/// Our stable error code (`ShopError.code`) of a failed call.
pub const ERROR_TYPE: &str = "error.type";
pub const SERVER_ADDRESS: &str = "server.address";
pub const SERVER_PORT: &str = "server.port";

// ---- messaging (Kafka / embedded log)
pub const MESSAGING_SYSTEM: &str = "messaging.system";
/// `messaging.system` value for Kafka; the embedded log uses [`MESSAGING_SYSTEM_EMBEDDED`].
pub const MESSAGING_SYSTEM_KAFKA: &str = "kafka";
pub const MESSAGING_SYSTEM_EMBEDDED: &str = "thriftshop_log";
pub const MESSAGING_DESTINATION_NAME: &str = "messaging.destination.name";
pub const MESSAGING_DESTINATION_PARTITION_ID: &str = "messaging.destination.partition.id";
/// `send` (producer), `receive` or `process` (consumer).
pub const MESSAGING_OPERATION_TYPE: &str = "messaging.operation.type";
pub const MESSAGING_OPERATION_NAME: &str = "messaging.operation.name";
pub const MESSAGING_CONSUMER_GROUP_NAME: &str = "messaging.consumer.group.name";
pub const MESSAGING_MESSAGE_ID: &str = "messaging.message.id";
pub const MESSAGING_KAFKA_MESSAGE_KEY: &str = "messaging.kafka.message.key";
pub const MESSAGING_KAFKA_OFFSET: &str = "messaging.kafka.offset";

// ---- GraphQL (gateway)
pub const GRAPHQL_OPERATION_NAME: &str = "graphql.operation.name";
/// `query`, `mutation` or `subscription`.
pub const GRAPHQL_OPERATION_TYPE: &str = "graphql.operation.type";
pub const GRAPHQL_DOCUMENT: &str = "graphql.document";

// ---- HTTP
pub const HTTP_REQUEST_METHOD: &str = "http.request.method";
pub const HTTP_RESPONSE_STATUS_CODE: &str = "http.response.status_code";
pub const URL_PATH: &str = "url.path";
