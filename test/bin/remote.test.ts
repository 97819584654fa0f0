import { expect } from 'chai'
import { amqpUrl, hostPort, lambdaUrl, natsUrl, shownUrl } from '../../bin/remote.js'
import { UsageError } from '../../bin/usage.js'

describe('bin/remote', () => {
  describe('hostPort', () => {
    it('splits host:port, with port 0 and IPv6 in brackets', () => {
      expect(hostPort('127.0.0.1:3000', '--http')).to.deep.equal({ host: '127.0.0.1', port: 3000 })
      expect(hostPort('0.0.0.0:0', '--http')).to.deep.equal({ host: '0.0.0.0', port: 0 })
      expect(hostPort('[::1]:80', '--http')).to.deep.equal({ host: '::1', port: 80 })
      expect(hostPort(':8080', '--http')).to.deep.equal({ host: '127.0.0.1', port: 8080 })
    })

    it('refuses anything else, naming the flag', () => {
      expect(() => hostPort('3000', '--web')).to.throw(UsageError, /--web takes host:port/)
      expect(() => hostPort('h:70000', '--web')).to.throw(UsageError)
      expect(() => hostPort('h:port', '--web')).to.throw(UsageError)
    })
  })

  describe('amqpUrl', () => {
    it("takes service and prefix off the URL and leaves RabbitMQ's parameters", () => {
      expect(amqpUrl('amqp://u:p@127.0.0.1:5672/vh?service=math&prefix=t1&heartbeat=5', undefined)).to.deep.equal({
        url: 'amqp://u:p@127.0.0.1:5672/vh?heartbeat=5',
        target: 'math',
        prefix: 't1',
      })
      expect(amqpUrl('amqp://127.0.0.1', 'math')).to.deep.equal({ url: 'amqp://127.0.0.1', target: 'math' })
    })

    it('reads several broker nodes, comma-separated, with stoa’s parameters on any of them', () => {
      expect(amqpUrl('amqp://127.0.0.1:5701,amqp://127.0.0.1:5702?prefix=vote', undefined)).to.deep.equal({
        url: 'amqp://127.0.0.1:5701,amqp://127.0.0.1:5702',
        prefix: 'vote',
      })
      expect(() => amqpUrl('amqp://a?prefix=x,amqp://b?prefix=y', undefined)).to.throw(UsageError, /disagree/)
      expect(() => amqpUrl('amqp://a,http://b', undefined)).to.throw(UsageError, /not an amqp/)
    })

    it('takes the queue type off the URL, and refuses one that is neither classic nor quorum', () => {
      expect(amqpUrl('amqp://127.0.0.1?prefix=vote&queueType=quorum', undefined)).to.deep.equal({
        url: 'amqp://127.0.0.1',
        prefix: 'vote',
        queueType: 'quorum',
      })
      expect(() => amqpUrl('amqp://127.0.0.1?queueType=stream', undefined)).to.throw(UsageError, /classic or quorum/)
    })

    it('refuses --service and ?service= that disagree, and URLs that are not amqp', () => {
      expect(() => amqpUrl('amqp://h?service=a', 'b')).to.throw(UsageError, /disagree/)
      expect(() => amqpUrl('http://h', undefined)).to.throw(UsageError, /not an amqp:\/\/ URL/)
      expect(() => amqpUrl('nope', undefined)).to.throw(UsageError, /not a URL/)
    })
  })

  describe('natsUrl', () => {
    it('takes service and prefix off the URL and leaves the server address', () => {
      expect(natsUrl('nats://127.0.0.1:4222?service=math&prefix=t1', undefined)).to.deep.equal({
        url: 'nats://127.0.0.1:4222',
        target: 'math',
        prefix: 't1',
      })
      expect(natsUrl('nats://u:p@h:4222/', 'math')).to.deep.equal({ url: 'nats://u:p@h:4222', target: 'math' })
    })

    it('refuses --service and ?service= that disagree, and URLs that are not nats', () => {
      expect(() => natsUrl('nats://h?service=a', 'b')).to.throw(UsageError, /disagree/)
      expect(() => natsUrl('amqp://h', undefined)).to.throw(UsageError, /not a nats:\/\/ URL/)
    })
  })

  describe('lambdaUrl', () => {
    it('reads the function, name or ARN, and its region, endpoint and qualifier', () => {
      expect(lambdaUrl('lambda:math')).to.deep.equal({ functionName: 'math' })
      expect(lambdaUrl('lambda:arn:aws:lambda:eu-west-1:123456789012:function:math')).to.deep.equal({
        functionName: 'arn:aws:lambda:eu-west-1:123456789012:function:math',
      })
      expect(lambdaUrl('lambda:math?region=eu-west-1&endpoint=http://127.0.0.1:9001&qualifier=live')).to.deep.equal({
        functionName: 'math',
        region: 'eu-west-1',
        endpoint: 'http://127.0.0.1:9001',
        qualifier: 'live',
      })
    })

    it('refuses a URL without a function or with a parameter it does not know', () => {
      expect(() => lambdaUrl('lambda:')).to.throw(UsageError, /names the function/)
      expect(() => lambdaUrl('lambda:math?profile=x')).to.throw(UsageError, /not "profile"/)
    })
  })

  it('masks the password of a URL it prints', () => {
    expect(shownUrl('amqp://guest:secret@127.0.0.1:5672')).to.equal('amqp://guest:***@127.0.0.1:5672')
    expect(shownUrl('http://127.0.0.1:3000/')).to.equal('http://127.0.0.1:3000/')
  })
})
