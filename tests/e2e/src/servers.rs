//! Real database servers (InfluxDB 1.x, VictoriaMetrics) started on loopback ports for tests.
