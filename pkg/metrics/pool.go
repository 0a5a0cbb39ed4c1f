package metrics

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// PoolStats are the figures of a database pool (pgxpool.Stat's), read at
// scrape time.
type PoolStats struct {
	Acquired, Idle, Constructing, Total, Max  int32
	Acquires, CanceledAcquires, EmptyAcquires int64
	NewConns                                  int64
	AcquireDuration, EmptyAcquireWait         time.Duration
}

// WatchPool reports stats() as the extauthz_db_pool_… series at every
// scrape.
func (m *Metrics) WatchPool(stats func() PoolStats) {
	m.reg.MustRegister(&poolCollector{stats: stats})
}

type poolCollector struct{ stats func() PoolStats }

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("extauthz_db_pool_"+name, help, nil, nil)
}

var (
	poolAcquired     = poolDesc("acquired_connections", "Database pool connections in use.")
	poolIdle         = poolDesc("idle_connections", "Database pool connections open and idle.")
	poolConstructing = poolDesc("constructing_connections", "Database pool connections being opened.")
	poolTotal        = poolDesc("total_connections", "Database pool connections open or being opened (acquired + idle + constructing).")
	poolMax          = poolDesc("max_connections", "The database pool's size limit (database_max_conns).")
	poolAcquires     = poolDesc("acquires_total", "Successful acquires of a connection from the database pool.")
	poolCanceled     = poolDesc("canceled_acquires_total", "Acquires that ended because their context ended (a lookup deadline passed while waiting for a connection).")
	poolEmpty        = poolDesc("empty_acquires_total", "Successful acquires that had to wait for a connection (none idle).")
	poolNew          = poolDesc("new_connections_total", "Connections the database pool opened.")
	poolAcquireTime  = poolDesc("acquire_seconds_total", "Time spent acquiring connections from the database pool, waiting included (pgxpool AcquireDuration).")
	poolWait         = poolDesc("acquire_wait_seconds_total", "Time acquires waited because no connection was idle (pgxpool EmptyAcquireWaitTime).")
)

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolConstructing, poolTotal, poolMax,
		poolAcquires, poolCanceled, poolEmpty, poolNew, poolAcquireTime, poolWait} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolAcquired, float64(s.Acquired))
	gauge(poolIdle, float64(s.Idle))
	gauge(poolConstructing, float64(s.Constructing))
	gauge(poolTotal, float64(s.Total))
	gauge(poolMax, float64(s.Max))
	counter(poolAcquires, float64(s.Acquires))
	counter(poolCanceled, float64(s.CanceledAcquires))
	counter(poolEmpty, float64(s.EmptyAcquires))
	counter(poolNew, float64(s.NewConns))
	counter(poolAcquireTime, s.AcquireDuration.Seconds())
	counter(poolWait, s.EmptyAcquireWait.Seconds())
}
