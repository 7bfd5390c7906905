import { describe, expect, it } from 'vitest'
import { parseDomainConfig } from './domain-config.js'

describe('parseDomainConfig', () => {
  it('reads disks of every source kind, interfaces, displays and memory units', () => {
    const cfg = parseDomainConfig(`<domain type='kvm' id='4'>
      <name>db</name><uuid>8c5f8b0e-1111-4222-8333-444455556666</uuid>
      <memory unit='KiB'>4194304</memory><currentMemory unit='KiB'>2097152</currentMemory>
      <vcpu placement='static'>8</vcpu>
      <os><type arch='aarch64' machine='virt-7.2'>hvm</type><boot dev='hd'/></os>
      <devices>
        <disk type='block' device='lun'><source dev='/dev/sdb'/><target dev='sdb' bus='scsi'/></disk>
        <disk type='volume' device='disk'><driver name='qemu' type='raw'/><source pool='fast' volume='db-data'/><target dev='vdb' bus='virtio'/><readonly/></disk>
        <disk type='network' device='disk'><source protocol='rbd' name='pool/img'><host name='ceph1' port='6789'/></source><target dev='vdc' bus='virtio'/></disk>
        <interface type='direct'><mac address='52:54:00:0A:0B:0C'/><source dev='eth0' mode='bridge'/><target dev='macvtap0'/></interface>
        <interface type='user'><model type='e1000e'/></interface>
        <graphics type='spice' port='5901' autoport='yes'><listen type='address' address='0.0.0.0'/></graphics>
        <graphics type='vnc' port='5900' passwd='s3cret' listen='::1'/>
      </devices>
    </domain>`)
    expect(cfg).toMatchObject({
      name: 'db',
      uuid: '8c5f8b0e-1111-4222-8333-444455556666',
      os: { type: 'hvm', arch: 'aarch64', machine: 'virt-7.2' },
      vcpus: 8,
      memoryKiB: 2097152,
      maxMemoryKiB: 4194304,
    })
    expect(cfg.disks).toEqual([
      { target: 'sdb', device: 'lun', bus: 'scsi', source: '/dev/sdb', readonly: false },
      { target: 'vdb', device: 'disk', bus: 'virtio', source: 'fast/db-data', format: 'raw', readonly: true },
      { target: 'vdc', device: 'disk', bus: 'virtio', source: 'rbd://ceph1/pool/img', readonly: false },
    ])
    expect(cfg.nics).toEqual([
      { mac: '52:54:00:0a:0b:0c', type: 'direct', source: 'eth0', hostDevice: 'macvtap0' },
      { type: 'user', model: 'e1000e' },
    ])
    // The VNC password is in the XML here but never in what is returned.
    expect(cfg.graphics).toEqual([
      { type: 'spice', port: 5901, listen: '0.0.0.0' },
      { type: 'vnc', port: 5900, listen: '::1' },
    ])
    expect(JSON.stringify(cfg)).not.toContain('s3cret')
  })

  it('converts memory units, takes vcpu current over the maximum, and keeps names as strings', () => {
    const cfg = parseDomainConfig(
      `<domain><name>007</name><uuid>u</uuid><memory unit='GiB'>1</memory><vcpu current='3'>16</vcpu>` +
        `<devices><interface type='network'><mac address='00:00:00:00:00:01'/><source network='1234'/></interface></devices></domain>`,
    )
    expect(cfg.name).toBe('007')
    expect(cfg.memoryKiB).toBe(1024 * 1024)
    expect(cfg.maxMemoryKiB).toBe(1024 * 1024)
    expect(cfg.vcpus).toBe(3)
    expect(cfg.nics).toEqual([{ mac: '00:00:00:00:00:01', type: 'network', source: '1234' }])
    expect(parseDomainConfig(`<domain><memory unit='MiB'>96</memory></domain>`).memoryKiB).toBe(96 * 1024)
    expect(parseDomainConfig(`<domain><memory unit='bytes'>1048576</memory></domain>`).memoryKiB).toBe(1024)
  })

  it('gives empty lists for a domain without devices, and refuses what is not a domain', () => {
    const cfg = parseDomainConfig(`<domain type='test'><name>bare</name><os><type>hvm</type></os></domain>`)
    expect(cfg).toMatchObject({ disks: [], nics: [], graphics: [], vcpus: 0, os: { type: 'hvm' } })
    expect(() => parseDomainConfig('<network><name>default</name></network>')).toThrow('not a libvirt domain XML')
    expect(() => parseDomainConfig('')).toThrow('not a libvirt domain XML')
  })
})
